"""skiplock's shared core: the job table, its state machine and the queue operations.

The functions in ``functions/`` are thin adapters over this package; applications may also
import it directly to enqueue jobs inside their own database transactions.
"""
