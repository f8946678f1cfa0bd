/**
 * The voxforge page: choose what to make, drop a file (or type a sentence), set the options,
 * follow the job live, then look at the model in 3D, step through the building instructions and
 * download the files.
 */

import "./app.css";
import { Api, ApiError, type Artifact, type Job, type JobEvent, TERMINAL } from "./api";
import { byId, el, formatBytes, formatTime } from "./dom";
import { type Instructions, StepViewer } from "./steps";
import { ModelViewer, webglAvailable } from "./viewer";

const KEY_STORAGE = "voxforge.apiKey";
const TITLES_STORAGE = "voxforge.jobTitles";
const TITLES_KEPT = 100;

interface PipelineInfo {
  file: boolean;
  text: boolean;
  /** The flat options (`width_studs`, `colors`, `hollow`) this pipeline takes. */
  shortcuts: Set<string>;
  /** The other options the page offers that this pipeline's options model takes (see EXTRA_OPTIONS). */
  options: Set<string>;
  dropHint: string;
  accept: string;
}

const BRICK_OPTIONS = ["width_studs", "colors", "hollow"];

/** Options the page offers beyond the shortcuts, as paths in the pipeline's options model. */
const EXTRA_OPTIONS = ["physics.safety_margin", "classify", "meshes"];

/** What each input kind of `GET /v1/pipelines` means for the drop zone. */
const INPUT_HINTS: Record<string, [string, string]> = {
  model: ["Point clouds (PLY, PCD, LAS, XYZ), meshes (OBJ, STL, GLB, OFF), voxels (binvox, VOX)", ""],
  image: ["A photo or a sketch of one object (PNG, JPEG)", "image/*"],
  images: ["or a ZIP of photos from several sides", ".zip"],
};

/** Until the server has said which pipelines it runs: the ones the page's buttons name. */
const PIPELINES: Record<string, PipelineInfo> = {
  brickify: describePipeline(["model"], BRICK_OPTIONS, EXTRA_OPTIONS),
  reconstruct: describePipeline(["image", "images"], [], []),
  classify: describePipeline(["model"], [], []),
};

function describePipeline(inputs: string[], shortcuts: string[], options: string[]): PipelineInfo {
  const files = inputs.filter((kind) => kind in INPUT_HINTS);
  return {
    file: files.length > 0,
    text: inputs.includes("text"),
    shortcuts: new Set(shortcuts),
    options: new Set(options),
    dropHint: files.map((kind) => INPUT_HINTS[kind][0]).join(", "),
    accept: files.every((kind) => INPUT_HINTS[kind][1]) ? files.map((kind) => INPUT_HINTS[kind][1]).join(",") : "",
  };
}

/** Stage names the pipelines report, as a person would say them. */
const STAGES: Record<string, string> = {
  queued: "Waiting for a free worker",
  read: "Reading the file",
  clean: "Cleaning up the scan",
  voxelize: "Fitting it to the brick grid",
  classify: "Recognising the object",
  reconstruct: "Reconstructing the shape",
  generate: "Shaping the object",
  colors: "Choosing brick colours",
  layout: "Laying the bricks",
  physics: "Checking that it stands",
  instructions: "Drawing the building steps",
  make: "Making a clean mesh",
  lod: "Building the levels of detail",
  check: "Checking the mesh",
  write: "Writing the files",
  done: "Done",
};

/** Downloads in the order a builder wants them, with what each file is for. */
const DOWNLOADS: [string, string, string][] = [
  ["instructions.pdf", "Building instructions", "PDF, one step per page"],
  ["model.mpd", "LDraw model", "MPD for Studio, LeoCAD, LDView"],
  ["bom.csv", "Parts list", "CSV: part, colour, count"],
  ["bricklink.xml", "BrickLink wanted list", "XML to upload on BrickLink"],
  ["rebrickable.csv", "Rebrickable parts list", "CSV to import on Rebrickable"],
  ["model.glb", "3D model (GLB)", "glTF binary with colours"],
  ["model.obj", "3D model (OBJ)", "Wavefront OBJ"],
  ["model.stl", "3D model (STL)", "For 3D printing"],
  ["mesh.glb", "Clean mesh (GLB)", "watertight, with vertex colours"],
  ["mesh.stl", "Clean mesh (STL)", "millimetres, for 3D printing"],
  ["mesh.obj", "Clean mesh (OBJ)", "Wavefront OBJ"],
  ["lod_chain.glb", "Levels of detail (GLB)", "every level in one file (MSFT_lod)"],
  ["report.json", "Mesh quality report", "JSON: checks, print verdict, LOD errors"],
  ["instructions.html", "Instructions (web page)", "HTML"],
  ["preview.png", "Preview picture", "PNG"],
];

const api = new Api(localStorage.getItem(KEY_STORAGE) ?? "");

/** Object URLs of the job on screen, freed when another job is shown. */
const blobUrls = new Map<string, Promise<string>>();
/** JSON artifacts of the job on screen, fetched once (the steps and the verdict share one). */
const jsonArtifacts = new Map<string, Promise<unknown>>();
let currentJob: Job | null = null;
let following: AbortController | null = null;
let viewer: ModelViewer | null = null;
let chosenFile: File | null = null;

const ui = {
  keyPanel: byId<HTMLDetailsElement>("key-panel"),
  keyForm: byId<HTMLFormElement>("key-form"),
  keyInput: byId<HTMLInputElement>("api-key"),
  keyState: byId("key-state"),
  keyMessage: byId("key-message"),
  keyForget: byId<HTMLButtonElement>("key-forget"),
  form: byId<HTMLFormElement>("job-form"),
  sourceTabs: byId("source-tabs"),
  dropzone: byId("dropzone"),
  fileInput: byId<HTMLInputElement>("file-input"),
  dropHint: byId("drop-hint"),
  fileChosen: byId("file-chosen"),
  promptBox: byId("prompt-box"),
  prompt: byId<HTMLTextAreaElement>("prompt"),
  options: byId<HTMLFieldSetElement>("options"),
  widthField: byId("width-field"),
  colorsField: byId("colors-field"),
  hollowField: byId("hollow-field"),
  width: byId<HTMLInputElement>("width-studs"),
  widthRange: byId<HTMLInputElement>("width-range"),
  colors: byId<HTMLSelectElement>("colors"),
  hollow: byId<HTMLInputElement>("hollow-input"),
  marginField: byId("margin-field"),
  margin: byId<HTMLSelectElement>("safety-margin"),
  classifyField: byId("classify-field"),
  classify: byId<HTMLInputElement>("classify-input"),
  meshesField: byId<HTMLFieldSetElement>("meshes-field"),
  submit: byId<HTMLButtonElement>("submit"),
  formError: byId("form-error"),
  empty: byId("empty-state"),
  job: byId("job"),
  jobTitle: byId("job-title"),
  jobStatus: byId("job-status"),
  progress: byId("progress"),
  progressFill: byId("progress-fill"),
  jobStage: byId("job-stage"),
  jobError: byId("job-error"),
  result: byId("result"),
  verdict: byId("verdict"),
  verdictTitle: byId("verdict-title"),
  verdictHeadline: byId("verdict-headline"),
  verdictReasons: byId("verdict-reasons"),
  verdictFacts: byId("verdict-facts"),
  verdictWeak: byId("verdict-weak"),
  verdictPreview: byId<HTMLImageElement>("verdict-preview"),
  verdictZoom: byId<HTMLAnchorElement>("verdict-zoom"),
  variationsCard: byId("variations-card"),
  variations: byId("variations"),
  viewerBox: byId("viewer"),
  viewerNote: byId("viewer-note"),
  resetView: byId<HTMLButtonElement>("reset-view"),
  facts: byId("facts"),
  stepsCard: byId("steps-card"),
  downloads: byId("downloads"),
  moreFiles: byId<HTMLDetailsElement>("more-files"),
  moreList: byId("more-list"),
  jobList: byId("job-list"),
  jobsEmpty: byId("jobs-empty"),
};

const steps = new StepViewer(ui.stepsCard, {
  prev: byId<HTMLButtonElement>("step-prev"),
  next: byId<HTMLButtonElement>("step-next"),
  label: byId("step-label"),
  image: byId<HTMLImageElement>("step-image"),
  context: byId("step-context"),
  list: byId("step-parts"),
  total: byId("step-total"),
  position: byId("step-position"),
  inventory: byId("inventory"),
  inventorySummary: byId("inventory-summary"),
});

// ---------------------------------------------------------------- API key

function showKeyState(): void {
  ui.keyState.textContent = api.hasKey ? "set" : "needed";
  ui.keyState.className = `pill ${api.hasKey ? "pill-ok" : "pill-warn"}`;
  ui.keyForget.hidden = !api.hasKey;
}

async function saveKey(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  api.setKey(key);
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  showKeyState();
  if (!key) return;
  ui.keyMessage.textContent = "Checking…";
  try {
    await refreshJobs();
    ui.keyMessage.textContent = "Key accepted.";
    ui.keyPanel.open = false;
  } catch (error) {
    ui.keyMessage.textContent =
      error instanceof ApiError && error.status === 401 ? "The server does not know this key." : describe(error);
  }
}

function forgetKey(): void {
  localStorage.removeItem(KEY_STORAGE);
  api.setKey("");
  ui.keyInput.value = "";
  ui.keyMessage.textContent = "Key removed from this browser.";
  showKeyState();
  ui.jobList.replaceChildren();
  ui.jobsEmpty.hidden = false;
}

// ---------------------------------------------------------------- the form

function pipeline(): string {
  const checked = ui.form.querySelector<HTMLInputElement>('input[name="pipeline"]:checked');
  return checked?.value ?? "brickify";
}

function source(): "file" | "text" {
  const info = PIPELINES[pipeline()];
  if (info.text && !info.file) return "text";
  const checked = ui.form.querySelector<HTMLInputElement>('input[name="source"]:checked');
  return checked?.value === "text" && info.text ? "text" : "file";
}

function updateForm(): void {
  const info = PIPELINES[pipeline()];
  ui.sourceTabs.hidden = !(info.text && info.file);
  const useText = source() === "text";
  ui.dropzone.hidden = useText;
  ui.promptBox.hidden = !useText;
  ui.dropHint.textContent = info.dropHint;
  ui.fileInput.accept = info.accept;
  ui.widthField.hidden = !info.shortcuts.has("width_studs");
  ui.colorsField.hidden = !info.shortcuts.has("colors");
  ui.hollowField.hidden = !info.shortcuts.has("hollow");
  ui.marginField.hidden = !info.options.has("physics.safety_margin");
  ui.classifyField.hidden = !info.options.has("classify");
  ui.meshesField.hidden = !info.options.has("meshes");
  const none = info.shortcuts.size === 0 && info.options.size === 0;
  ui.options.hidden = none;
  ui.options.disabled = none;
}

interface PipelinePublic {
  name: string;
  description: string;
  inputs: string[];
  shortcuts: Record<string, string>;
  options_schema?: JsonSchema;
}

interface JsonSchema {
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  $defs?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** Whether a dotted option path (`physics.safety_margin`) is a field of a pydantic JSON schema. */
function schemaHas(schema: JsonSchema | undefined, path: string): boolean {
  if (!schema) return false;
  const defs = schema.$defs ?? {};
  const resolve = (node: JsonSchema | undefined): JsonSchema | undefined => {
    for (let hops = 0; node && hops < 8; hops++) {
      if (node.$ref) node = defs[node.$ref.split("/").pop() ?? ""];
      else if (!node.properties && (node.allOf ?? node.anyOf)) node = (node.allOf ?? node.anyOf ?? []).find((n) => n.$ref || n.properties);
      else return node;
    }
    return node;
  };
  let node: JsonSchema | undefined = schema;
  for (const key of path.split(".")) {
    node = resolve(node)?.properties?.[key];
    if (!node) return false;
  }
  return true;
}

/** Offer exactly the pipelines this server runs (`GET /v1/pipelines`, no key needed). */
async function loadPipelines(): Promise<void> {
  let listed: PipelinePublic[];
  try {
    listed = await api.json<PipelinePublic[]>("/v1/pipelines");
  } catch {
    return; // an older server: keep the page's defaults
  }
  const group = byId("pipeline-choices");
  const names = new Set(listed.map((p) => p.name));
  for (const spec of listed) {
    const options = EXTRA_OPTIONS.filter((path) => schemaHas(spec.options_schema, path));
    PIPELINES[spec.name] = describePipeline(spec.inputs, Object.keys(spec.shortcuts), options);
    if (!group.querySelector(`input[value="${CSS.escape(spec.name)}"]`)) {
      const title = spec.name.charAt(0).toUpperCase() + spec.name.slice(1);
      group.append(
        el(
          "label",
          {},
          el("input", { type: "radio", name: "pipeline", value: spec.name }),
          el("span", {}, el("strong", {}, title), el("small", {}, spec.description)),
        ),
      );
    }
  }
  for (const input of group.querySelectorAll<HTMLInputElement>('input[name="pipeline"]')) {
    const offered = names.has(input.value);
    (input.closest("label") as HTMLElement).hidden = !offered;
    input.disabled = !offered;
    if (!offered && input.checked) {
      input.checked = false;
      group.querySelector<HTMLInputElement>('input[name="pipeline"]:not(:disabled)')?.click();
    }
  }
  updateForm();
}

function chooseFile(file: File | null): void {
  chosenFile = file;
  ui.dropzone.classList.toggle("has-file", !!file);
  ui.fileChosen.replaceChildren();
  if (file) {
    ui.fileChosen.append(el("strong", {}, file.name), ` · ${formatBytes(file.size)}`);
  }
  showFormError("");
}

function setupDropzone(): void {
  const zone = ui.dropzone;
  ui.fileInput.addEventListener("change", () => chooseFile(ui.fileInput.files?.[0] ?? null));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "dragend", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = (event as DragEvent).dataTransfer?.files?.[0];
    if (file) chooseFile(file);
  });
  // Files dropped next to the zone would make the browser leave the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

function syncWidth(from: HTMLInputElement, to: HTMLInputElement): void {
  to.value = from.value;
}

function jobParams(): Record<string, unknown> {
  const name = pipeline();
  const params: Record<string, unknown> = { pipeline: name };
  const { shortcuts, options } = PIPELINES[name];
  if (shortcuts.has("width_studs")) params.width_studs = Number(ui.width.value);
  if (shortcuts.has("colors")) params.colors = ui.colors.value;
  // hollow: shell thickness in cells; 0 means solid.
  if (shortcuts.has("hollow")) params.hollow = ui.hollow.checked ? 2 : 0;
  if (options.has("physics.safety_margin")) params.physics = { safety_margin: Number(ui.margin.value) };
  if (options.has("classify") && ui.classify.checked) params.classify = true;
  if (options.has("meshes")) {
    const extra = [...ui.meshesField.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value);
    // GLB always: the page's 3D view reads it.
    if (extra.length) params.meshes = ["glb", ...extra];
  }
  return params;
}

function showFormError(message: string): void {
  ui.formError.textContent = message;
  ui.formError.hidden = !message;
}

async function submit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  if (!api.hasKey) {
    showFormError("Enter your API key first (top right).");
    ui.keyPanel.open = true;
    ui.keyInput.focus();
    return;
  }
  const width = Number(ui.width.value);
  if (!ui.widthField.hidden && (!Number.isInteger(width) || width < 4 || width > 256)) {
    showFormError("The size must be a whole number of studs between 4 and 256.");
    ui.width.focus();
    return;
  }
  const params = jobParams();
  const useText = source() === "text";
  const prompt = ui.prompt.value.trim();
  if (useText && !prompt) {
    showFormError("Type a sentence that describes the object.");
    ui.prompt.focus();
    return;
  }
  if (!useText && !chosenFile) {
    showFormError("Choose a file, or drop one on the box.");
    ui.fileInput.focus();
    return;
  }
  showFormError("");
  ui.submit.disabled = true;
  ui.submit.textContent = "Uploading…";
  try {
    const job = useText
      ? await api.createTextJob({ ...params, prompt })
      : await api.createFileJob(chosenFile as File, params);
    rememberTitle(job.id, useText ? prompt : (chosenFile as File).name);
    openJob(job);
    void refreshJobs();
  } catch (error) {
    showFormError(describe(error));
  } finally {
    ui.submit.disabled = false;
    ui.submit.textContent = "Build it";
  }
}

// ---------------------------------------------------------------- a job on screen

/** Names this browser gave its jobs (the file or the sentence), newest last. */
function storedTitles(): Record<string, string> {
  try {
    const value = JSON.parse(localStorage.getItem(TITLES_STORAGE) ?? "{}") as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function rememberTitle(id: string, title: string): void {
  const titles = Object.entries(storedTitles()).filter(([key]) => key !== id);
  titles.push([id, title]);
  localStorage.setItem(TITLES_STORAGE, JSON.stringify(Object.fromEntries(titles.slice(-TITLES_KEPT))));
}

function jobTitle(job: Job): string {
  const remembered = storedTitles()[job.id];
  if (remembered) return remembered;
  for (const key of ["title", "input_name", "filename", "prompt"]) {
    const value = job[key];
    if (typeof value === "string" && value) return value;
  }
  const params = job.params as Record<string, unknown> | undefined;
  if (params && typeof params.prompt === "string") return params.prompt;
  return `${job.pipeline} job`;
}

function stageText(stage: string | null | undefined, status: string): string {
  if (status === "queued") return STAGES.queued;
  if (status === "succeeded") return "Finished";
  if (status === "failed") return "Stopped with an error";
  if (!stage) return "Starting…";
  return STAGES[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1).replace(/[_-]/g, " ");
}

function showProgress(event: JobEvent): void {
  const status = event.status ?? ui.job.dataset.status ?? "queued";
  const fraction = Math.min(Math.max(event.progress ?? Number(ui.progress.getAttribute("aria-valuenow")) / 100, 0), 1);
  const shown = status === "succeeded" ? 1 : fraction;
  const percent = Math.round(shown * 100);
  ui.job.dataset.status = status;
  ui.jobStatus.textContent = status;
  ui.jobStatus.className = `pill pill-${status}`;
  ui.progressFill.style.width = `${percent}%`;
  ui.progress.setAttribute("aria-valuenow", String(percent));
  ui.progress.setAttribute("aria-valuetext", `${percent}%`);
  ui.jobStage.textContent = `${stageText(event.stage, status)}${status === "running" ? ` · ${percent}%` : ""}`;
  const error = event.error ?? (status === "failed" ? event.message : null);
  if (error) {
    ui.jobError.textContent = error;
    ui.jobError.hidden = false;
  }
}

function resetResult(): void {
  for (const url of blobUrls.values()) url.then(URL.revokeObjectURL, () => undefined);
  blobUrls.clear();
  jsonArtifacts.clear();
  viewer?.clear();
  ui.result.hidden = true;
  delete ui.result.dataset.ready;
  ui.verdict.hidden = true;
  delete ui.verdict.dataset.buildable;
  ui.verdictReasons.replaceChildren();
  ui.verdictFacts.replaceChildren();
  ui.verdictWeak.textContent = "";
  ui.verdictZoom.hidden = true;
  ui.verdictZoom.removeAttribute("href");
  ui.verdictPreview.removeAttribute("src");
  ui.facts.replaceChildren();
  ui.variationsCard.hidden = true;
  ui.variations.replaceChildren();
  ui.downloads.replaceChildren();
  ui.moreList.replaceChildren();
  ui.jobError.hidden = true;
  ui.jobError.textContent = "";
}

function openJob(job: Job): void {
  following?.abort();
  following = new AbortController();
  resetResult();
  currentJob = job;
  history.replaceState(null, "", `#job=${encodeURIComponent(job.id)}`);
  ui.empty.hidden = true;
  ui.job.hidden = false;
  ui.job.dataset.jobId = job.id;
  ui.progress.setAttribute("aria-valuenow", "0");
  ui.jobTitle.textContent = jobTitle(job);
  showProgress(job);
  markActive();
  void follow(job, following.signal);
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Live progress from the event stream; if the stream breaks, poll the job once a second. */
async function follow(start: Job, signal: AbortSignal): Promise<void> {
  let job = start;
  let streaming = true;
  try {
    while (!TERMINAL.has(job.status)) {
      if (streaming) {
        try {
          await api.followEvents(job.id, showProgress, signal);
        } catch (error) {
          if (signal.aborted) return;
          console.warn("event stream failed, polling instead", error);
        }
        streaming = false;
      } else {
        await sleep(1000, signal);
      }
      if (signal.aborted) return;
      job = await api.getJob(job.id);
      showProgress(job);
    }
    await finish(job, signal);
  } catch (error) {
    if (signal.aborted) return;
    ui.jobError.textContent = describe(error);
    ui.jobError.hidden = false;
  }
}

async function finish(job: Job, signal: AbortSignal): Promise<void> {
  currentJob = job;
  showProgress(job);
  void refreshJobs();
  if (job.status === "failed") {
    ui.jobError.textContent = job.error || "The job failed without a message.";
    ui.jobError.hidden = false;
    return;
  }
  const byName = new Map(job.artifacts.map((a) => [a.name, a]));
  ui.result.hidden = false;
  ui.result.dataset.jobId = job.id;
  renderDownloads(job.artifacts);
  await Promise.all([
    showVariations(job, byName),
    showModel(byName, signal).then(() => showLevels(byName, signal)),
    showSteps(byName, signal),
    showFacts(byName, signal),
  ]);
  if (!signal.aborted) ui.result.dataset.ready = "true";
}

/** The URL of an artifact: the one the server listed, else the conventional path. */
function artifactUrl(name: string): string {
  const listed = currentJob?.artifacts.find((a) => a.name === name);
  return listed?.url ?? `/v1/jobs/${encodeURIComponent(currentJob?.id ?? "")}/artifacts/${name}`;
}

/** A JSON artifact, fetched once with the API key. */
function jsonArtifact<T>(artifact: Artifact, signal: AbortSignal): Promise<T> {
  let body = jsonArtifacts.get(artifact.name);
  if (!body) {
    body = api.json<unknown>(artifact.url, signal);
    jsonArtifacts.set(artifact.name, body);
    body.catch(() => jsonArtifacts.delete(artifact.name));
  }
  return body as Promise<T>;
}

/** An object URL for an artifact, fetched once with the API key. */
function blobUrl(name: string): Promise<string> {
  let url = blobUrls.get(name);
  if (!url) {
    url = api.blob(artifactUrl(name)).then((blob) => URL.createObjectURL(blob));
    blobUrls.set(name, url);
    url.catch(() => blobUrls.delete(name));
  }
  return url;
}

async function showModel(byName: Map<string, Artifact>, signal: AbortSignal): Promise<void> {
  const card = byId("viewer-card");
  const glb = byName.get("model.glb") ?? byName.get("lod0.glb");
  card.hidden = !glb && !byName.has("preview.png");
  if (card.hidden) return;
  ui.viewerBox.dataset.state = "loading";
  ui.resetView.hidden = true;
  if (glb && webglAvailable()) {
    try {
      viewer ??= new ModelViewer(ui.viewerBox);
      const bytes = await (await api.blob(glb.url, signal)).arrayBuffer();
      if (signal.aborted) return;
      await viewer.show(bytes);
      ui.viewerBox.dataset.state = "ready";
      ui.resetView.hidden = false;
      ui.viewerNote.textContent = "Drag to turn · scroll or pinch to zoom · right-drag to move";
      return;
    } catch (error) {
      if (signal.aborted) return;
      console.error("3D view failed", error);
    }
  }
  // No WebGL (or a file it cannot read): the rendered preview picture instead.
  ui.viewerNote.textContent = glb
    ? "This browser cannot show 3D here; this is the rendered preview."
    : "This job has no 3D model; this is its preview.";
  if (byName.has("preview.png")) {
    const img = el("img", { class: "preview-fallback", alt: "Rendered preview of the model" });
    img.src = await blobUrl("preview.png");
    ui.viewerBox.querySelector(".preview-fallback")?.remove();
    ui.viewerBox.append(img);
  }
  ui.viewerBox.dataset.state = "fallback";
}

/** One level of a mesh job's `report.json` (`voxforge.mesh.lod.LodLevel`). */
interface LodLevel {
  level: number;
  faces: number;
  hausdorff: number;
  silhouette_iou: number | null;
  ssim: number | null;
}

/** What the page shows of a mesh job's `report.json`. */
interface MeshReport {
  check: { watertight: boolean; manifold: boolean; faces: number; volume: number | null };
  print: { verdict: string; reasons: string[]; min_wall_mm: number | null; overhang_fraction: number };
  lod: LodLevel[];
}

const lossPercent = (x: number | null): string => (x === null ? "–" : `${(100 * (1 - x)).toFixed(1)}%`);

/** A mesh job: a slider through its levels of detail in the viewer, and the quality report. */
async function showLevels(byName: Map<string, Artifact>, signal: AbortSignal): Promise<void> {
  const control = byId("lod-control");
  const table = byId("lod-table");
  const artifact = byName.get("report.json");
  control.hidden = table.hidden = true;
  if (!artifact || !byName.has("lod0.glb")) return;
  const report = await jsonArtifact<MeshReport>(artifact, signal);
  if (signal.aborted) return;
  const head = el("tr", {}, ...["Level", "Faces", "Hausdorff", "1 − IoU", "1 − SSIM"].map((t) => el("th", {}, t)));
  const rows = report.lod.map((lv) =>
    el(
      "tr",
      { "data-level": String(lv.level) },
      el("td", {}, String(lv.level)),
      el("td", {}, lv.faces.toLocaleString()),
      el("td", {}, `${(100 * lv.hausdorff).toFixed(2)}%`),
      el("td", {}, lossPercent(lv.silhouette_iou)),
      el("td", {}, lossPercent(lv.ssim)),
    ),
  );
  const c = report.check;
  const p = report.print;
  const caption = el(
    "caption",
    {},
    `${c.watertight && c.manifold ? "Watertight and manifold" : "Not watertight"} · ` +
      `print: ${p.verdict}${p.reasons.length ? ` (${p.reasons.join("; ")})` : ""}`,
  );
  table.replaceChildren(caption, head, ...rows);
  table.hidden = false;
  const slider = byId<HTMLInputElement>("lod-slider");
  const label = byId("lod-label");
  slider.max = String(report.lod.length - 1);
  slider.value = "0";
  const describeLevel = (i: number): string => `Level ${i} · ${report.lod[i].faces.toLocaleString()} faces`;
  label.textContent = describeLevel(0);
  slider.oninput = async () => {
    const i = Number(slider.value);
    label.textContent = describeLevel(i);
    for (const row of rows) row.classList.toggle("current", row.dataset.level === String(i));
    if (!viewer || !byName.has(`lod${i}.glb`)) return;
    const url = await blobUrl(`lod${i}.glb`);
    const bytes = await (await fetch(url)).arrayBuffer();
    if (slider.value === String(i)) await viewer.show(bytes, true);
  };
  rows[0]?.classList.add("current");
  control.hidden = !viewer;
}

// ---------------------------------------------------------------- variations of a sentence

/** A generate job's shapes (`v1/`, `v2/`, …) side by side; the chosen one goes on to bricks. */
async function showVariations(job: Job, byName: Map<string, Artifact>): Promise<void> {
  const numbers = [...byName.keys()]
    .map((name) => /^v(\d+)\/preview\.png$/.exec(name)?.[1])
    .filter((k): k is string => k !== undefined && byName.has(`v${k}/voxels.npz`))
    .map(Number)
    .sort((a, b) => a - b);
  ui.variationsCard.hidden = numbers.length === 0;
  const items = await Promise.all(
    numbers.map(async (k) => {
      const img = el("img", { alt: `Variation ${k}`, class: "variation-image" });
      try {
        img.src = await blobUrl(`v${k}/preview.png`);
      } catch {
        img.alt = `Variation ${k} (preview not available)`;
      }
      const build = el("button", { type: "button", class: "button small", "data-variation": String(k) }, "Build this one");
      build.addEventListener("click", () => void buildVariation(job, k, build));
      return el("li", { "data-variation": String(k) }, el("figure", {}, img, el("figcaption", {}, `Variation ${k}`)), build);
    }),
  );
  ui.variations.replaceChildren(...items);
}

/** Start a brickify job from one variation's grid (`vK/voxels.npz`) and follow it. */
async function buildVariation(job: Job, k: number, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const blob = await api.blob(artifactUrl(`v${k}/voxels.npz`));
    const file = new File([blob], `variation-${k}.npz`, { type: "application/octet-stream" });
    const width = Number(ui.width.value);
    const params = { pipeline: "brickify", width_studs: Number.isInteger(width) && width >= 4 ? width : 24 };
    const started = await api.createFileJob(file, params);
    rememberTitle(started.id, `${jobTitle(job)} · variation ${k}`);
    openJob(started);
    void refreshJobs();
  } catch (error) {
    ui.jobError.textContent = `Variation ${k} could not be sent to bricks: ${describe(error)}`;
    ui.jobError.hidden = false;
    button.disabled = false;
    button.textContent = "Build this one";
  }
}

async function showSteps(byName: Map<string, Artifact>, signal: AbortSignal): Promise<void> {
  const artifact = byName.get("instructions.json");
  ui.stepsCard.hidden = !artifact;
  if (!artifact) return;
  const instructions = await jsonArtifact<Instructions>(artifact, signal);
  if (signal.aborted || instructions.steps.length === 0) {
    ui.stepsCard.hidden = true;
    return;
  }
  steps.load(instructions, blobUrl);
}

interface Summary {
  parts?: { total?: number; distinct?: number };
  colors?: { name: string; parts: number }[];
  size?: { studs?: number[]; plates?: number; cm?: number[] };
  mass_g?: number;
  verdict?: Verdict | null;
  /** A reconstruction's bricks: the verdict's headline and flag only. */
  bricks?: { buildable?: boolean | null; verdict?: string | null } | null;
  classification?: { top?: { class: string; probability: number }[]; low_confidence?: boolean } | null;
  top?: { class: string; probability: number }[];
  low_confidence?: boolean;
}

async function showFacts(byName: Map<string, Artifact>, signal: AbortSignal): Promise<void> {
  const artifact = byName.get("summary.json") ?? byName.get("classification.json");
  if (!artifact) return;
  const s = await jsonArtifact<Summary>(artifact, signal);
  if (signal.aborted) return;
  await showVerdict(s, byName, signal);
  if (signal.aborted) return;
  const facts: [string, string][] = [];
  if (s.parts?.total != null) facts.push(["Pieces", `${s.parts.total.toLocaleString()} (${s.parts.distinct} kinds)`]);
  if (s.size?.studs) {
    facts.push(["Size", `${s.size.studs.join(" × ")} studs, ${s.size.plates} plates high`]);
  }
  if (s.size?.cm) facts.push(["Built", `${s.size.cm.join(" × ")} cm`]);
  if (s.colors?.length) facts.push(["Colours", s.colors.map((c) => c.name).join(", ")]);
  if (s.mass_g != null) facts.push(["Weight", `${Math.round(s.mass_g)} g`]);
  // In a brickify summary a low-confidence guess says more about the classifier than the model;
  // a classify job asked for the guess, so it is shown with its doubt.
  const asked = !byName.has("summary.json");
  const classes = s.classification ?? (asked ? { top: s.top, low_confidence: s.low_confidence } : null);
  if (classes?.top?.length && (asked || !classes.low_confidence)) {
    const guess = classes.top
      .slice(0, 3)
      .map((t) => `${t.class.replace(/_/g, " ")} ${Math.round(t.probability * 100)}%`)
      .join(", ");
    facts.push([classes.low_confidence ? "Best guesses (unsure)" : "Looks like", guess]);
  }
  ui.facts.replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
}

// ---------------------------------------------------------------- the builder's verdict

/** `summary.json`'s `verdict` (see voxforge.bricks.verdict). */
interface Verdict {
  buildable: boolean;
  headline?: string;
  pieces?: number;
  grounded?: boolean;
  physics?: string;
  margin?: number | null;
  safety_margin?: number;
  steps_stand?: boolean | null;
  held_parts?: number;
  weak_spot?: { part: number; key: string; at: [number, number, number]; stress: number | null }[];
  reasons?: string[];
}

/** 0.42 -> "42%"; near 0 or 1 two decimals, so 0.9997 never reads as 100%. */
function percent(x: number): string {
  let text = `${Math.round(x * 100)}%`;
  if ((text === "100%" || text === "0%") && x !== 0 && x !== 1) text = `${(x * 100).toFixed(2)}%`;
  return text;
}

/** The headline without its `buildable: yes - ` prefix, as a sentence. */
function headlineText(headline: string | null | undefined): string {
  const text = (headline ?? "").replace(/^buildable:\s*(yes|no)\s*-\s*/i, "").trim();
  return text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}` : "";
}

function marginText(margin: number | null | undefined): string {
  if (margin == null || !Number.isFinite(margin)) return "not determined";
  if (margin < 0) return `none: the most loaded stud is ${percent(-margin)} over its grip`;
  return `${percent(margin)} of the grip left`;
}

async function showVerdict(s: Summary, byName: Map<string, Artifact>, signal: AbortSignal): Promise<void> {
  const v = s.verdict ?? (s.bricks?.buildable != null ? { buildable: s.bricks.buildable, headline: s.bricks.verdict ?? "" } : null);
  if (!v || typeof v.buildable !== "boolean") return;
  const reasons = v.buildable ? [] : (v.reasons ?? []);
  ui.verdict.dataset.buildable = String(v.buildable);
  ui.verdictTitle.textContent = v.buildable ? "Buildable" : reasons.length ? "Not buildable:" : "Not buildable";
  // A model that is not buildable: its headline is the reasons, listed one per line instead.
  ui.verdictHeadline.textContent = reasons.length ? "" : headlineText(v.headline);
  ui.verdictReasons.replaceChildren(...reasons.map((r) => el("li", {}, headlineText(r))));
  const facts: [string, string][] = [];
  if (v.safety_margin != null) facts.push(["Safety margin asked", `${percent(v.safety_margin)} of every stud's grip`]);
  if (v.margin !== undefined) facts.push(["Margin reached", marginText(v.margin)]);
  if (v.pieces != null && v.pieces > 1) facts.push(["Loose sections", `${v.pieces} (not joined to each other)`]);
  if (v.held_parts) facts.push(["Held by hand", `${v.held_parts} ${v.held_parts === 1 ? "step" : "steps"}`]);
  ui.verdictFacts.replaceChildren(...facts.map(([k, d]) => el("div", {}, el("dt", {}, k), el("dd", {}, d))));
  ui.verdict.hidden = false;
  ui.verdictWeak.textContent = await weakSpotText(v, byName, signal);
  // preview.png outlines the weak spot in red: worth a look when the model is not buildable.
  if (!v.buildable && byName.has("preview.png") && !signal.aborted) {
    try {
      const url = await blobUrl("preview.png");
      ui.verdictPreview.src = url;
      ui.verdictZoom.href = url;
      ui.verdictZoom.hidden = signal.aborted;
    } catch {
      // the text says it all
    }
  }
}

/** "Weakest spot: Plate 1 x 2 (3023) at stud (6, 2), 4 plates up; …" or "" when none is known. */
async function weakSpotText(v: Verdict, byName: Map<string, Artifact>, signal: AbortSignal): Promise<string> {
  const weak = v.weak_spot?.[0];
  if (!weak || weak.stress == null || weak.stress <= 0) return "";
  let name = "";
  const bom = byName.get("bom.csv");
  if (bom) {
    try {
      name = partName(await (await api.blob(bom.url, signal)).text(), weak.key);
    } catch {
      // the part number alone
    }
  }
  const [x, y, z] = weak.at;
  const part = name ? `${name} (${weak.key})` : `part ${weak.key}`;
  const load =
    weak.stress >= 1
      ? `its studs are pulled ${percent(weak.stress - 1)} beyond their grip`
      : `its most loaded stud uses ${percent(weak.stress)} of its grip`;
  return `Weakest spot: ${part} at stud (${x}, ${y}), ${z} ${z === 1 ? "plate" : "plates"} up; ${load}.`;
}

/** The `name` of a part number in the parts list (`bom.csv`: a header with `part` and `name`). */
function partName(csv: string, key: string): string {
  const rows = csv.split(/\r?\n/).filter(Boolean).map(csvFields);
  const [head, ...body] = rows;
  const [part, name] = [head?.indexOf("part") ?? -1, head?.indexOf("name") ?? -1];
  if (part < 0 || name < 0) return "";
  return body.find((row) => row[part] === key)?.[name] ?? "";
}

/** One CSV line's fields (RFC 4180 quotes). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") fields.push(field), (field = "");
    else field += c;
  }
  fields.push(field);
  return fields;
}

function downloadLink(artifact: Artifact, label: string, detail: string): HTMLElement {
  const link = el(
    "a",
    { href: api.url(artifact.url), download: artifact.name.split("/").pop() ?? artifact.name, class: "download" },
    el("span", { class: "download-label" }, label),
    el("span", { class: "download-meta" }, `${detail} · ${formatBytes(artifact.size)}`),
  );
  link.dataset.artifact = artifact.name;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    void save(artifact, link);
  });
  return el("li", {}, link);
}

/** Download through fetch (the key travels in a header, never in the URL). */
async function save(artifact: Artifact, link: HTMLElement): Promise<void> {
  link.classList.add("busy");
  try {
    const url = URL.createObjectURL(await api.blob(artifact.url));
    const anchor = el("a", { href: url, download: artifact.name.split("/").pop() ?? artifact.name });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    ui.jobError.textContent = `Download of ${artifact.name} failed: ${describe(error)}`;
    ui.jobError.hidden = false;
  } finally {
    link.classList.remove("busy");
  }
}

function renderDownloads(artifacts: Artifact[]): void {
  const byName = new Map(artifacts.map((a) => [a.name, a]));
  const main = DOWNLOADS.filter(([name]) => byName.has(name)).map(([name, label, detail]) =>
    downloadLink(byName.get(name) as Artifact, label, detail),
  );
  const known = new Set(DOWNLOADS.map(([name]) => name));
  const rest = artifacts.filter((a) => !known.has(a.name) && !a.name.startsWith("steps/"));
  ui.downloads.replaceChildren(...main);
  ui.moreList.replaceChildren(...rest.map((a) => downloadLink(a, a.name, a.media_type)));
  ui.moreFiles.hidden = rest.length === 0;
  byId("downloads-card").hidden = artifacts.length === 0;
}

// ---------------------------------------------------------------- recent jobs

function markActive(): void {
  for (const item of ui.jobList.querySelectorAll<HTMLElement>("li")) {
    item.classList.toggle("active", item.dataset.jobId === currentJob?.id);
  }
}

async function refreshJobs(): Promise<void> {
  if (!api.hasKey) return;
  const jobs = await api.listJobs();
  jobs.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  ui.jobsEmpty.hidden = jobs.length > 0;
  ui.jobList.replaceChildren(
    ...jobs.slice(0, 12).map((job) => {
      const open = el(
        "button",
        { type: "button", class: "job-open" },
        el("span", { class: "job-name" }, jobTitle(job)),
        el("span", { class: "job-meta" }, `${job.pipeline} · ${formatTime(job.created_at)}`),
        el("span", { class: `pill pill-${job.status}` }, job.status),
      );
      open.addEventListener("click", () => openJob(job));
      const remove = el("button", { type: "button", class: "icon-button", "aria-label": `Delete ${jobTitle(job)}` }, "×");
      remove.addEventListener("click", () => void deleteJob(job));
      return el("li", { "data-job-id": job.id }, open, remove);
    }),
  );
  markActive();
}

async function deleteJob(job: Job): Promise<void> {
  if (!window.confirm(`Delete “${jobTitle(job)}” and its files?`)) return;
  try {
    await api.deleteJob(job.id);
    if (currentJob?.id === job.id) {
      following?.abort();
      resetResult();
      currentJob = null;
      ui.job.hidden = true;
      ui.empty.hidden = false;
      history.replaceState(null, "", location.pathname);
    }
    await refreshJobs();
  } catch (error) {
    showFormError(describe(error));
  }
}

// ---------------------------------------------------------------- start

function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401 || error.status === 403) return "The API key was not accepted.";
    return `${error.message} (HTTP ${error.status})`;
  }
  if (error instanceof TypeError) return "The server cannot be reached.";
  return error instanceof Error ? error.message : String(error);
}

async function restoreFromHash(): Promise<void> {
  const match = /^#job=(.+)$/.exec(location.hash);
  if (!match || !api.hasKey) return;
  try {
    openJob(await api.getJob(decodeURIComponent(match[1])));
  } catch {
    history.replaceState(null, "", location.pathname);
  }
}

function start(): void {
  ui.keyInput.value = localStorage.getItem(KEY_STORAGE) ?? "";
  showKeyState();
  if (!api.hasKey) ui.keyPanel.open = true;
  ui.keyForm.addEventListener("submit", (event) => void saveKey(event));
  ui.keyForget.addEventListener("click", forgetKey);
  ui.form.addEventListener("change", updateForm);
  ui.form.addEventListener("submit", (event) => void submit(event));
  ui.width.addEventListener("input", () => syncWidth(ui.width, ui.widthRange));
  ui.widthRange.addEventListener("input", () => syncWidth(ui.widthRange, ui.width));
  ui.resetView.addEventListener("click", () => viewer?.resetView());
  setupDropzone();
  updateForm();
  void loadPipelines();
  refreshJobs().catch(() => undefined);
  void restoreFromHash();
  document.documentElement.dataset.ready = "true";
}

start();
