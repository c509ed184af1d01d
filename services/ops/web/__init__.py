"""The dashboard: one HTML page, its JSON API and a server-sent-events stream, on faust's web server."""
