-- The storage engine of a table in the current database (InnoDB keeps a table without a
-- primary key in insertion order).
SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
