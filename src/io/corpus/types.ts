import type { FileMap } from './bytes';

/** What an entry must give in every host: a named error, a warning beside a result, or a model that opens. */
export type CorpusExpectation =
  | {
      kind: 'error';
      /** The file the one-line message starts with (`<file>: …`), as both hosts name it. */
      file: string;
      /** What the rest of the message must say: the field, expected vs actual. */
      message: RegExp;
    }
  | { kind: 'warning'; warning: RegExp }
  | { kind: 'opens' };

export interface CorpusEntry {
  /** Folder name of the entry in the written corpus; unique. */
  name: string;
  /** The class of malformed input it stands for (issue 11's list). */
  class: string;
  /** Which kind of input it mutates. */
  kind: 'layers-model' | 'graph-model' | 'hf-transformer' | 'zip' | 'dataset' | 'text';
  /** The entry's files, by path inside its folder. Large ones are made only when asked for. */
  files: () => FileMap;
  /**
   * What `lopper <command>` gets as `<model>`: a path inside the entry's folder (a zip), the entry's
   * folder itself when absent, or, for data entries, a committed model (`base`, relative to the repository).
   */
  model?: string;
  base?: string;
  /** The `--data` file inside the entry's folder, for data entries. */
  data?: string;
  command: 'inspect' | 'eval';
  expect: CorpusExpectation;
}
