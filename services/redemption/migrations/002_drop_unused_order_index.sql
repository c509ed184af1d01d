-- No redemption query looks tickets up by order (requests name a TicketNo or WriteOffNo; the scheduler reads by
-- due time), and the index cost every ticket insert and every state change an extra B-tree insertion: about a
-- third of the index work of an expiry flood's UPDATEs.
DROP INDEX IF EXISTS tickets_by_order;
