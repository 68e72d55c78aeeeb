/**
 * Runs a page in headless Chromium and evaluates an expression in it, over the DevTools protocol on
 * a pipe (`--remote-debugging-pipe`: requests on fd 3, replies on fd 4, NUL-separated JSON), so
 * nothing listens on a port and no WebSocket client is needed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

interface Reply {
  readonly id?: number;
  readonly method?: string;
  readonly params?: Record<string, any>;
  readonly result?: Record<string, any>;
  readonly error?: { readonly message: string };
  readonly sessionId?: string;
}

/** What evaluating in the page gave, plus what the page logged and threw. */
export interface PageResult {
  readonly value: unknown;
  readonly console: readonly string[];
  readonly exceptions: readonly string[];
  /** The browser's own version (the page's user agent may be reduced to `156.0.0.0`). */
  readonly version: string;
}

/** Loads `url` in a fresh headless Chromium, then evaluates `expression` (awaiting a promise). */
export async function evaluateInPage(
  chromium: string,
  url: string,
  expression: string,
  timeoutMs = 60_000,
): Promise<PageResult> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'breakwater-chromium-'));
  const child: ChildProcess = spawn(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      '--no-first-run',
      '--no-default-browser-check',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  const consoleLines: string[] = [];
  const exceptions: string[] = [];
  const loaded: Array<() => void> = [];
  let buffer = '';
  let exited: Error | undefined;

  fromBrowser.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\0'); end >= 0; end = buffer.indexOf('\0')) {
      const msg = JSON.parse(buffer.slice(0, end)) as Reply;
      buffer = buffer.slice(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg);
      } else if (msg.method === 'Runtime.consoleAPICalled') {
        const args = (msg.params?.args ?? []) as { value?: unknown; description?: string }[];
        consoleLines.push(args.map((a) => (a.value !== undefined ? String(a.value) : (a.description ?? ''))).join(' '));
      } else if (msg.method === 'Runtime.exceptionThrown') {
        const d = msg.params?.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
        exceptions.push(d?.exception?.description ?? d?.text ?? 'unknown exception');
      } else if (msg.method === 'Page.loadEventFired') {
        for (const f of loaded.splice(0)) f();
      }
    }
  });
  const died = new Promise<never>((_, reject) => {
    child.on('exit', (code, signal) => {
      exited = new Error(`chromium exited (${code ?? signal}) before the page finished: ${stderr.trim().slice(-1500)}`);
      for (const p of pending.values()) p.reject(exited);
      reject(exited);
    });
    child.on('error', (e) => reject(e));
  });
  died.catch(() => undefined);

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Reply> => {
    if (exited !== undefined) return Promise.reject(exited);
    const id = nextId++;
    const reply = new Promise<Reply>((resolve, reject) => pending.set(id, { resolve, reject }));
    toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return reply;
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the page did not finish in ${timeoutMs} ms; console: ${consoleLines.join(' | ')}`)),
      timeoutMs,
    );
  });

  const work = async (): Promise<PageResult> => {
    const v = await send('Browser.getVersion');
    const version = String(v.result?.product ?? '').replace(/^[^/]*\//, '');
    const target = await send('Target.createTarget', { url: 'about:blank' });
    const attach = await send('Target.attachToTarget', { targetId: target.result?.targetId, flatten: true });
    const session = attach.result?.sessionId as string;
    await send('Page.enable', {}, session);
    await send('Runtime.enable', {}, session);
    const load = new Promise<void>((r) => loaded.push(r));
    const nav = await send('Page.navigate', { url }, session);
    if (nav.result?.errorText) throw new Error(`could not load ${url}: ${nav.result.errorText}`);
    await load;
    const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, session);
    const details = r.result?.exceptionDetails as { exception?: { description?: string }; text?: string } | undefined;
    if (details !== undefined) {
      throw new Error(`evaluation threw: ${details.exception?.description ?? details.text ?? 'unknown'}`);
    }
    return {
      value: (r.result?.result as { value?: unknown } | undefined)?.value,
      console: consoleLines,
      exceptions,
      version,
    };
  };

  try {
    return await Promise.race([work(), died, timedOut]);
  } finally {
    clearTimeout(timer);
    if (exited === undefined) {
      send('Browser.close').catch(() => undefined);
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) r();
        else child.once('exit', () => r());
      });
      clearTimeout(kill);
    }
    rmSync(profile, { recursive: true, force: true });
  }
}
