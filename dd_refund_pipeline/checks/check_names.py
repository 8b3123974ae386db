"""Names of the asset checks every form has, shared by the assets, the tests and the sensors.

A form's validity checks are named after their column and rule (``<column>_positive``), and
its whole-table key check after its key (``<key in snake case>_unique``): both come from
the form spec (``ValidityRule.check_name``, ``Target.key_check_name``).
"""

INSTANCE_IDS_UNIQUE = "process_instance_id_unique"
TABLE_COMPLETE = "window_complete"
NO_REJECTS = "no_rejected_records"
NO_GONE_UPSTREAM = "no_forms_gone_upstream"
API_QUOTA_HEADROOM = "api_quota_headroom"
SAMPLE_SIZE = 20
FORMS_IN_THEIR_DAYS = "forms_within_their_days"
