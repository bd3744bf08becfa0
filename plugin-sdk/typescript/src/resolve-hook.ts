// Module resolution hook installed by the runner (see loader.ts): `@convotic/block-sdk`, imported
// by a module file, always resolves to the SDK that runs it, so a module needs no node_modules
// of its own and shares the runner's single copy of the SDK.
interface HookData {
  sdkUrl: string;
}

type ResolveResult = { url: string; shortCircuit?: boolean; format?: string | null };
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

let sdkUrl: string | undefined;

export function initialize(data: HookData): void {
  sdkUrl = data.sdkUrl;
}

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<ResolveResult> {
  if (sdkUrl && specifier === "@convotic/block-sdk") {
    return { url: sdkUrl, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
