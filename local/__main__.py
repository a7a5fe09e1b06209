"""`python -m local`: run the whole system on 127.0.0.1 (see local/stack.py)."""

from local.stack import main

main()
