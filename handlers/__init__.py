"""The reference application's handlers, bound to queues in topology.yaml's ``handlers`` section.

The order flow: billing charges an order (and fails on purpose for some customers), shipping
ships paid orders, notifications tells customers, fraud reviews high-value orders, the ledger
applies entries in order per account. ``traffic`` makes the sample events ``bus up`` publishes.
"""
