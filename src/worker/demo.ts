import type { InputFile } from '../io/types';

/** One entry of `public/models/index.json`. */
export interface DemoEntry {
  /** Folder name under `public/models/`. */
  name: string;
  title: string;
  description: string;
  /** Files to fetch from the folder: the model's files and its evaluation set. */
  files: string[];
}

export async function fetchDemoIndex(baseUrl: string): Promise<DemoEntry[]> {
  const response = await fetch(`${baseUrl}models/index.json`);
  if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status}`);
  return (await response.json()) as DemoEntry[];
}

/** Fetches a demo's files into memory, as if the user had dropped its folder. */
export async function fetchDemoFiles(baseUrl: string, name: string): Promise<InputFile[]> {
  const demo = (await fetchDemoIndex(baseUrl)).find((entry) => entry.name === name);
  if (!demo) throw new Error(`No demo model named "${name}" in models/index.json`);
  return Promise.all(
    demo.files.map(async (file): Promise<InputFile> => {
      const url = `${baseUrl}models/${name}/${file}`;
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { path: `${name}/${file}`, size: bytes.length, bytes: async () => bytes };
    }),
  );
}
