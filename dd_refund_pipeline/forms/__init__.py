"""Form specs: one declarative file per Yida form and target table (see ``spec.py``)."""
