-- Fill the load's stage with a batch, as multi-row VALUES (MySQL / MariaDB): the default.
INSERT INTO `{stage_table}` ({stage_columns}) VALUES ({stage_values})
