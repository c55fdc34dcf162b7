"""The return lifecycle: the state machine, creation from a shopper's request, review,
cancellation, signed shopper links and photos. Controllers call these functions; they own
the rules and the transactions, and never import ``portal.web``."""
