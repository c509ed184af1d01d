"""All of the notification service's SQL."""
