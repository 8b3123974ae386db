-- Fill the load's stage with a batch from a file the load wrote (MySQL / MariaDB), when the
-- database URL allows it (?local_infile=1) and the server does: MySQL's own text format (tabs
-- between fields, backslash escapes, \N for NULL, a line a row). :path is bound like any value.
-- With LOCAL the server turns a value it cannot store into a warning, not an error: the load
-- reads the warnings after this and refuses the batch if there is one.
LOAD DATA LOCAL INFILE :path INTO TABLE `{stage_table}` CHARACTER SET utf8mb4 ({stage_columns})
