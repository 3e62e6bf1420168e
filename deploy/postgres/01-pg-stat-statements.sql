-- Run once by the postgres image when it creates the database (docker-entrypoint-initdb.d).
-- The server loads the library via shared_preload_libraries (docker-compose.yml command);
-- this makes its view readable by the database inspector and postgres_exporter.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
