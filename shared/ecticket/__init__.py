"""ECTicket wire protocol: URL-encoding variants, AES Data encryption, CheckMacValue and envelopes."""
