# Placed first on PYTHONPATH by tests that prove a route never imports TensorFlow: importing it leaves
# a marker file and fails.
import os

_marker = os.environ.get("PORTKIT_POISON_MARKER")
if _marker:
    with open(_marker, "a") as f:
        f.write("tensorflow imported\n")
raise ImportError("tensorflow must not be imported on this route (test poison)")
