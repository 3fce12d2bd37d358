"""Clients for Microsoft's services that the mailboxes (``intake``) and the senders (``notifier``) share.

``entra``: OAuth 2.0 access tokens from Microsoft Entra ID, for IMAP and SMTP XOAUTH2 and for Microsoft Graph.
``exchange``: the exchangelib account for Exchange Web Services. Both layers import from here, and this package
imports only ``config``: it knows nothing of the pipeline, the database or outgoing replies, and its errors are
translated by each adapter into its own (a mailbox's MailboxAuthError, a sender's SendDeferred).
"""
