"""Events: what the programme tells the outside world about, and how.

This package sits between the domain packages (`loyalty`, `scanner`, `auth`) and `store`:
they record an event in the same transaction as the change it describes, and only this
package knows the outbox's shape. The event catalogue, recording into the outbox, the feed
(a change stream, or polling where there is none) and webhook delivery with leases will live
here; the package is empty until they are built.
"""
