"""Merchant-console domain code: policy drafts and publishing, users, the audit trail.

Nothing here imports ``portal.web``; controllers parse, authorize and render around it.
"""
