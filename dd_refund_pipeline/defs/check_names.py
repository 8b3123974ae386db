"""Names of the asset checks, shared by the assets that run them and the tests and sensors."""

INSTANCE_IDS_UNIQUE = "process_instance_id_unique"
TABLE_KEYS_UNIQUE = "extend_process_instance_id_unique"
TABLE_COMPLETE = "window_complete"
AMOUNTS_POSITIVE = "sales_count_positive"
ORDER_NUMBERS_SHAPED = "order_no_new_shaped"
TIMES_SANE = "datetime_new_in_range"
NO_REJECTS = "no_rejected_records"
NO_GONE_UPSTREAM = "no_forms_gone_upstream"
API_QUOTA_HEADROOM = "api_quota_headroom"
SAMPLE_SIZE = 20
