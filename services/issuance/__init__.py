"""issuance: turns ECTicket Issue requests (plus, for paid orders, a confirmed payment) into tickets."""
