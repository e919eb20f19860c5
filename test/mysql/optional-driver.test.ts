/**
 * `mysql2` is an optional peer dependency: a file-store user (and a PostgreSQL one) loads
 * nothing of it, and the MySQL store loads it when (and only when) the `mysql` option is
 * given. Run on the built package in a child process, so that no other test's imports count.
 * The cases are test/sql/optional-driver.ts, shared with the PostgreSQL store.
 */
import { optionalDriverSuite } from "../sql/optional-driver.js";

optionalDriverSuite({
  driver: "mysql2",
  option: "mysql",
  withoutTitle: "a file store, its SDK adapter and the postgres option load no MySQL driver",
  others: ["postgres"],
  withTitle: "the mysql option loads the driver (and a server that is not there is UNAVAILABLE)",
});
