/**
 * A small client for the voxforge REST API (`/v1/...`).
 *
 * Every request carries `Authorization: Bearer KEY`. The page never lets the browser fetch a
 * protected URL on its own (an <img src> or <a href> cannot send that header), so images, models
 * and downloads are fetched here and handed to the page as blobs.
 */

export type JobStatus = "queued" | "running" | "succeeded" | "failed";

export interface Artifact {
  name: string;
  media_type: string;
  size: number;
  url: string;
}

export interface Job {
  id: string;
  pipeline: string;
  status: JobStatus;
  stage: string | null;
  progress: number;
  created_at: string;
  finished_at: string | null;
  error: string | null;
  artifacts: Artifact[];
  [extra: string]: unknown;
}

/** What one server-sent event tells: a job snapshot, or just the stage and overall fraction. */
export interface JobEvent {
  status?: JobStatus;
  stage?: string | null;
  progress?: number;
  error?: string | null;
  /** Event streams carry the failure's one-line reason here. */
  message?: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed"]);

/** The message of an error answer: FastAPI's `{"detail": "..."}` or `{"detail": [{msg}]}`, else text. */
async function errorMessage(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { detail?: unknown; error?: unknown };
    const detail = body.detail ?? body.error;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d) => (typeof d === "object" && d && "msg" in d ? String((d as { msg: unknown }).msg) : String(d)))
        .join("; ");
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim() || `${response.status} ${response.statusText}`;
}

export class Api {
  constructor(
    private key: string,
    private readonly base = "",
  ) {}

  setKey(key: string): void {
    this.key = key;
  }

  get hasKey(): boolean {
    return this.key.length > 0;
  }

  /** An absolute URL for a path the server returned (`/v1/...`) or one relative to the API base. */
  url(path: string): string {
    if (/^https?:/.test(path)) return path;
    return `${this.base}${path.startsWith("/") ? "" : "/"}${path}`;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.key ? { Authorization: `Bearer ${this.key}`, ...extra } : extra;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(this.url(path), {
      ...init,
      headers: { ...this.headers(), ...((init.headers as Record<string, string>) ?? {}) },
    });
    if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
    return response;
  }

  async health(): Promise<boolean> {
    try {
      return (await fetch(this.url("/healthz"))).ok;
    } catch {
      return false;
    }
  }

  async listJobs(): Promise<Job[]> {
    const body = (await (await this.request("/v1/jobs")).json()) as Job[] | { jobs?: Job[]; items?: Job[] };
    return Array.isArray(body) ? body : (body.jobs ?? body.items ?? []);
  }

  async getJob(id: string): Promise<Job> {
    return (await (await this.request(`/v1/jobs/${encodeURIComponent(id)}`)).json()) as Job;
  }

  async deleteJob(id: string): Promise<void> {
    await this.request(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /** Start a job on an uploaded file (multipart `file` + JSON `params`). */
  async createFileJob(file: File, params: Record<string, unknown>): Promise<Job> {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("params", JSON.stringify(params));
    return (await (await this.request("/v1/jobs", { method: "POST", body: form })).json()) as Job;
  }

  /** Start a job from a sentence (JSON body with `prompt`). */
  async createTextJob(params: Record<string, unknown>): Promise<Job> {
    const response = await this.request("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(params),
    });
    return (await response.json()) as Job;
  }

  async blob(path: string, signal?: AbortSignal): Promise<Blob> {
    return (await this.request(path, { signal })).blob();
  }

  async json<T>(path: string, signal?: AbortSignal): Promise<T> {
    return (await (await this.request(path, { signal })).json()) as T;
  }

  /**
   * Follow `GET /v1/jobs/{id}/events` until the job ends or `signal` aborts.
   *
   * EventSource cannot send an Authorization header, so the stream is read through fetch and
   * parsed here (`event:`/`data:` lines, blank line between events). Resolves when the stream
   * closes; the caller then reads the final job.
   */
  async followEvents(id: string, onEvent: (event: JobEvent) => void, signal: AbortSignal): Promise<void> {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream" },
      signal,
    });
    if (!response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = parseEvent(block);
        if (event) {
          onEvent(event);
          if (event.status && TERMINAL.has(event.status)) {
            await reader.cancel();
            return;
          }
        }
      }
    }
  }
}

/** One SSE block -> a JobEvent, or null for comments/keep-alives and data that is not JSON. */
export function parseEvent(block: string): JobEvent | null {
  let name = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  let body: unknown;
  try {
    body = JSON.parse(data.join("\n"));
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) return null;
  const event = { ...(body as Record<string, unknown>) } as JobEvent & { job?: JobEvent };
  if (event.job && typeof event.job === "object") Object.assign(event, event.job);
  // An event named after a terminal status ("succeeded", "failed") ends the job even if its data
  // carries only a message.
  if (!event.status && TERMINAL.has(name)) event.status = name as JobStatus;
  return event;
}
