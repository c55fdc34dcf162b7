"""E-mail to shoppers and staff: templates, the SMTP sender and the local mailbox."""
