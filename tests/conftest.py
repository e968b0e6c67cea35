import os
import sys

# Tests import the packages from the checkout (built in place or installed editable).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
