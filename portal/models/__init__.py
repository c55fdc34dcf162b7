"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from portal.models.audit import AuditEvent
from portal.models.catalog import Product, Variant
from portal.models.merchant import NotificationTemplate, PolicyDraft, StoreSettings
from portal.models.money import Refund, RefundApproval, StoreCreditCode, StoreCreditEntry
from portal.models.orders import Customer, Order, OrderLine
from portal.models.outbox import KVEntry, MailMessage, Media, OutboxMessage, ReceivedWebhook
from portal.models.policy import PolicyVersion
from portal.models.returns import Exchange, Return, ReturnLine
from portal.models.staff import ApiToken, StaffUser
from portal.models.warehouse import GradePhoto, ParcelReceipt, UnknownParcel
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Customer",
    "Exchange",
    "GradePhoto",
    "KVEntry",
    "MailMessage",
    "Media",
    "NotificationTemplate",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "ParcelReceipt",
    "PolicyDraft",
    "PolicyVersion",
    "Product",
    "ReceivedWebhook",
    "Refund",
    "RefundApproval",
    "Return",
    "ReturnLine",
    "StaffUser",
    "StoreCreditCode",
    "StoreCreditEntry",
    "StoreSettings",
    "UnknownParcel",
    "Variant",
    "WebhookDelivery",
    "WebhookEndpoint",
]
