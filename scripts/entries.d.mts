/** The package's entry points (see entries.mjs). */
export declare const ENTRIES: ReadonlyArray<{
  name: string;
  source: string;
  subpath: string | null;
  types: "main" | "own" | null;
}>;
