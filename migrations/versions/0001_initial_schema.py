"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 14:29:34.370760
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.models.base
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_api_tokens_token_sha256'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('email', name=op.f('uq_customers_email'))
    )
    op.create_table('kv_entries',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_kv_entries'))
    )
    with op.batch_alter_table('kv_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kv_entries_expires_at'), ['expires_at'], unique=False)

    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('sent_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('done_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'done', 'dead')", name=op.f('ck_outbox_messages_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_messages_dedupe_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('yaml_text', sa.Text(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_policy_versions_version'))
    )
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_versions_sha256'), ['sha256'], unique=False)
        batch_op.create_index('uq_policy_versions_one_active', ['active'], unique=True, sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('product_type', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('image_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('handle', name=op.f('uq_products_handle'))
    )
    op.create_table('received_webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('received_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('processed_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_webhooks')),
    sa.UniqueConstraint('provider', 'event_id', name=op.f('uq_received_webhooks_provider_event_id'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('placed_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('fulfilled_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('shipping_address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('postal_code_key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('payment_reference', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_orders_currency_code')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_orders_total_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_orders_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_placed_at'), ['placed_at'], unique=False)

    op.create_table('store_credit_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('expires_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_store_credit_codes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_credit_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_store_credit_codes_code'))
    )
    with op.batch_alter_table('store_credit_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_credit_codes_customer_id'), ['customer_id'], unique=False)

    op.create_table('variants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('stock_on_hand', sa.Integer(), nullable=False),
    sa.Column('stock_reserved', sa.Integer(), nullable=False),
    sa.Column('image_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.CheckConstraint('price >= 0', name=op.f('ck_variants_price_not_negative')),
    sa.CheckConstraint('stock_on_hand >= 0', name=op.f('ck_variants_stock_not_negative')),
    sa.CheckConstraint('stock_reserved <= stock_on_hand', name=op.f('ck_variants_reserved_within_stock')),
    sa.CheckConstraint('stock_reserved >= 0', name=op.f('ck_variants_reserved_not_negative')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_variants_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_variants')),
    sa.UniqueConstraint('sku', name=op.f('uq_variants_sku'))
    )
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_variants_product_id'), ['product_id'], unique=False)

    op.create_table('media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('uploaded_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.CheckConstraint('size_bytes > 0', name=op.f('ck_media_size_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_media_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media'))
    )
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_order_id'), ['order_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('variant_title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('product_type', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Integer(), nullable=False),
    sa.Column('discount', sa.Integer(), nullable=False),
    sa.Column('returned_quantity', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=True),
    sa.Column('image_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.CheckConstraint('discount >= 0', name=op.f('ck_order_lines_discount_not_negative')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
    sa.CheckConstraint('returned_quantity >= 0 AND returned_quantity <= quantity', name=op.f('ck_order_lines_returned_within_ordered')),
    sa.CheckConstraint('unit_price >= 0', name=op.f('ck_order_lines_unit_price_not_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_order_lines_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_id', 'line_ref', name=op.f('uq_order_lines_order_id_line_ref'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_sku'), ['sku'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_variant_id'), ['variant_id'], unique=False)

    op.create_table('returns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rma', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('policy_version_id', sa.Integer(), nullable=True),
    sa.Column('submission_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('decision', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('refund_total', sa.Integer(), nullable=False),
    sa.Column('store_credit_total', sa.Integer(), nullable=False),
    sa.Column('label_fee', sa.Integer(), nullable=False),
    sa.Column('needs_approval', sa.Boolean(), nullable=False),
    sa.Column('require_review', sa.Boolean(), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('label_state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('label_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('service', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('tracking_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('shipment_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('tracker_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('label_cost', sa.Integer(), nullable=True),
    sa.Column('label_path', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('slip_path', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('tracking_status', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('approved_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('shipped_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('received_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('inspected_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('completed_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('closed_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('ship_by', portal.models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("label_state IN ('none', 'pending', 'ready', 'failed', 'voided')", name=op.f('ck_returns_label_state_known')),
    sa.CheckConstraint("status IN ('requested', 'approved', 'label_issued', 'in_transit', 'delivered', 'received', 'inspected', 'completed', 'rejected', 'cancelled', 'expired')", name=op.f('ck_returns_status_known')),
    sa.CheckConstraint('refund_total >= 0 AND store_credit_total >= 0 AND label_fee >= 0', name=op.f('ck_returns_amounts_not_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_returns_order_id_orders')),
    sa.ForeignKeyConstraint(['policy_version_id'], ['policy_versions.id'], name=op.f('fk_returns_policy_version_id_policy_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_returns')),
    sa.UniqueConstraint('rma', name=op.f('uq_returns_rma')),
    sa.UniqueConstraint('submission_key', name=op.f('uq_returns_submission_key'))
    )
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returns_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_returns_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_returns_tracking_code'), ['tracking_code'], unique=False)

    op.create_table('mail_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=True),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_mail_messages_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mail_messages_dedupe_key'))
    )
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_messages_return_id'), ['return_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_messages_to'), ['to'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('provider_reference', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('auto_approved', sa.Boolean(), nullable=False),
    sa.Column('rejection_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('failure_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('due_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('escalated_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('decided_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.Column('completed_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('return', 'exchange_difference')", name=op.f('ck_refunds_purpose_known')),
    sa.CheckConstraint("status IN ('pending_approval', 'approved', 'processing', 'succeeded', 'failed', 'rejected')", name=op.f('ck_refunds_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_refunds_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_refunds_idempotency_key'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_provider_reference'), ['provider_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_return_id'), ['return_id'], unique=False)
        batch_op.create_index('ix_refunds_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('uq_refunds_one_live_per_return', ['return_id', 'purpose'], unique=True, sqlite_where=sa.text("status <> 'failed' AND status <> 'rejected'"), postgresql_where=sa.text("status <> 'failed' AND status <> 'rejected'"))

    op.create_table('return_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('refund_amount', sa.Integer(), nullable=False),
    sa.Column('store_credit_amount', sa.Integer(), nullable=False),
    sa.Column('restocking_fee', sa.Integer(), nullable=False),
    sa.Column('decision', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('photo_media_id', sa.Integer(), nullable=True),
    sa.Column('received_quantity', sa.Integer(), nullable=True),
    sa.Column('condition', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=True),
    sa.Column('inspection_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('disposition', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('graded_by', sa.Integer(), nullable=True),
    sa.Column('graded_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("condition IS NULL OR condition IN ('as_new', 'opened', 'used', 'damaged', 'wrong_item', 'missing')", name=op.f('ck_return_lines_condition_known')),
    sa.CheckConstraint("disposition IS NULL OR disposition IN ('restock', 'refurbish', 'dispose', 'return_to_shopper')", name=op.f('ck_return_lines_disposition_known')),
    sa.CheckConstraint("resolution IN ('exchange', 'store_credit', 'refund', 'keep_item')", name=op.f('ck_return_lines_resolution_known')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_return_lines_quantity_positive')),
    sa.CheckConstraint('received_quantity IS NULL OR (received_quantity >= 0 AND received_quantity <= quantity)', name=op.f('ck_return_lines_received_within_requested')),
    sa.CheckConstraint('refund_amount >= 0 AND store_credit_amount >= 0 AND restocking_fee >= 0', name=op.f('ck_return_lines_amounts_not_negative')),
    sa.ForeignKeyConstraint(['graded_by'], ['staff_users.id'], name=op.f('fk_return_lines_graded_by_staff_users')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_return_lines_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['photo_media_id'], ['media.id'], name=op.f('fk_return_lines_photo_media_id_media')),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_return_lines_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_lines')),
    sa.UniqueConstraint('return_id', 'order_line_id', name=op.f('uq_return_lines_return_id_order_line_id'))
    )
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_lines_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_lines_return_id'), ['return_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_lines_graded_at'), ['graded_at'], unique=False)

    op.create_table('store_credit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('expires_at', portal.models.base.UTCDateTime(), nullable=True),
    sa.CheckConstraint("(kind IN ('issue', 'bonus') AND amount > 0) OR (kind IN ('redeem', 'expire', 'reverse') AND amount < 0)", name=op.f('ck_store_credit_entries_sign_matches_kind')),
    sa.CheckConstraint("kind IN ('issue', 'bonus', 'redeem', 'expire', 'reverse')", name=op.f('ck_store_credit_entries_kind_known')),
    sa.ForeignKeyConstraint(['code_id'], ['store_credit_codes.id'], name=op.f('fk_store_credit_entries_code_id_store_credit_codes')),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_store_credit_entries_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_credit_entries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_store_credit_entries_idempotency_key'))
    )
    with op.batch_alter_table('store_credit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_credit_entries_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_store_credit_entries_return_id'), ['return_id'], unique=False)

    op.create_table('exchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_line_id', sa.Integer(), nullable=False),
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price_difference', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('payment_reference', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('reserved', 'released', 'shipped', 'cancelled')", name=op.f('ck_exchanges_status_known')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_exchanges_quantity_positive')),
    sa.ForeignKeyConstraint(['return_line_id'], ['return_lines.id'], name=op.f('fk_exchanges_return_line_id_return_lines')),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_exchanges_variant_id_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchanges')),
    sa.UniqueConstraint('return_line_id', name=op.f('uq_exchanges_return_line_id'))
    )
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchanges_variant_id'), ['variant_id'], unique=False)

    op.create_table('refund_approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_approvals_refund_id_refunds')),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_refund_approvals_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_approvals')),
    sa.UniqueConstraint('refund_id', 'user_id', name=op.f('uq_refund_approvals_refund_id_user_id'))
    )
    with op.batch_alter_table('refund_approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_approvals_refund_id'), ['refund_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('refund_approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_approvals_refund_id'))

    op.drop_table('refund_approvals')
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchanges_variant_id'))

    op.drop_table('exchanges')
    with op.batch_alter_table('store_credit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_credit_entries_return_id'))
        batch_op.drop_index(batch_op.f('ix_store_credit_entries_code_id'))

    op.drop_table('store_credit_entries')
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_lines_graded_at'))
        batch_op.drop_index(batch_op.f('ix_return_lines_return_id'))
        batch_op.drop_index(batch_op.f('ix_return_lines_order_line_id'))

    op.drop_table('return_lines')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('uq_refunds_one_live_per_return', sqlite_where=sa.text("status <> 'failed' AND status <> 'rejected'"), postgresql_where=sa.text("status <> 'failed' AND status <> 'rejected'"))
        batch_op.drop_index('ix_refunds_status_due')
        batch_op.drop_index(batch_op.f('ix_refunds_return_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_provider_reference'))

    op.drop_table('refunds')
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_messages_to'))
        batch_op.drop_index(batch_op.f('ix_mail_messages_return_id'))

    op.drop_table('mail_messages')
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returns_tracking_code'))
        batch_op.drop_index('ix_returns_status_created')
        batch_op.drop_index(batch_op.f('ix_returns_order_id'))

    op.drop_table('returns')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_variant_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_sku'))
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_order_id'))

    op.drop_table('media')
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_variants_product_id'))

    op.drop_table('variants')
    with op.batch_alter_table('store_credit_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_credit_codes_customer_id'))

    op.drop_table('store_credit_codes')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_placed_at'))
        batch_op.drop_index(batch_op.f('ix_orders_email'))
        batch_op.drop_index(batch_op.f('ix_orders_customer_id'))

    op.drop_table('orders')
    op.drop_table('staff_users')
    op.drop_table('received_webhooks')
    op.drop_table('products')
    with op.batch_alter_table('policy_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_policy_versions_one_active', sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
        batch_op.drop_index(batch_op.f('ix_policy_versions_sha256'))

    op.drop_table('policy_versions')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')

    op.drop_table('outbox_messages')
    with op.batch_alter_table('kv_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kv_entries_expires_at'))

    op.drop_table('kv_entries')
    op.drop_table('customers')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
    op.drop_table('api_tokens')

