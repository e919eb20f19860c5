/**
 * `pg` is an optional peer dependency: a file-store user loads nothing of it, and the
 * PostgreSQL store loads it when (and only when) the `postgres` option is given. Run on
 * the built package in a child process, so that no other test's imports count.
 * The cases are test/sql/optional-driver.ts, shared with the MySQL store.
 */
import { optionalDriverSuite } from "../sql/optional-driver.js";

optionalDriverSuite({
  driver: "pg",
  option: "postgres",
  withoutTitle: "a file store and its SDK adapter load no PostgreSQL driver",
  others: [],
  withTitle: "the postgres option loads the driver (and a server that is not there is UNAVAILABLE)",
});
