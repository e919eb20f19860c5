/**
 * `EncryptedFileStore`: the token store on the file backend, the package's default.
 * Its `open` is the composition root of a file store: options, keys, the file backend.
 */
import { KeyRing } from "../../crypto/keyring.js";
import { EncryptedTokenStore } from "../../store/store.js";
import { FileBackend } from "./backend.js";
import { parseFileStoreOptions, type EncryptedFileStoreOptions } from "./options.js";

export class EncryptedFileStore extends EncryptedTokenStore {
  /** Absolute path of the store file (the same as `location`). */
  readonly path: string;

  private constructor(backend: FileBackend, keys: KeyRing, keepPrevious: boolean) {
    super(backend, keys, keepPrevious);
    this.path = backend.layout.path;
  }

  /**
   * Opens the store at `options.path` and checks that the key opens it. Opening creates
   * nothing: the store's directory must exist (INVALID_PATH otherwise, never a new empty
   * store in a new directory), and the file is created, mode 0600, by the first write (or by `create()`).
   * Throws WRONG_KEY, UNSUPPORTED_VERSION, INSECURE_PERMISSIONS (the store file, its
   * previous generation, its directory or a directory above it), INVALID_PATH or
   * INVALID_OPTION at once. A damaged or missing file does not stop `open`, so that
   * `recover()` can be called; every other operation reports it.
   *
   * @example
   * const store = await EncryptedFileStore.open({ path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
   */
  static async open(options: EncryptedFileStoreOptions): Promise<EncryptedFileStore> {
    const settings = parseFileStoreOptions(options);
    // Keys first: a missing key file is refused before anything is created on disk.
    const keys = await KeyRing.load(settings.key, settings.previousKeys);
    const backend = FileBackend.open(settings.path, settings.lock);
    return EncryptedTokenStore.assemble((ring) => new EncryptedFileStore(backend, ring, settings.keepPrevious), backend, keys, settings);
  }
}
