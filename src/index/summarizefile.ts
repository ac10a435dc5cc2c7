export async function summarizeForIndex(path: string): Promise<Record<string, unknown>> { throw new Error(`not yet ${path}`); }
