from tests.money.fixtures import make_refund, signer, stripe_base  # noqa: F401
