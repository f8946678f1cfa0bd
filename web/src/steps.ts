/**
 * The building-step viewer: one picture per step, previous/next (buttons and arrow keys), and the
 * parts that step adds, read from the job's `instructions.json`.
 */

import { el } from "./dom";

export interface StepPart {
  part: string;
  name: string;
  color: number;
  color_name: string;
  rgb: string;
  count: number;
}

export interface Step {
  number: number;
  image: string;
  submodel: string | null;
  rotation: [number, number, number] | null;
  /** The view differs from the previous step's: the builder turns the model. */
  turned?: boolean;
  /** What the build-order checks found at this step (a part to hold by hand, a step that does not stand). */
  notes?: string[];
  parts: StepPart[];
}

export interface Instructions {
  title?: string;
  /** Main-model steps; a step whose `submodel` is set attaches that sub-assembly. */
  steps: Step[];
  submodels?: { name: string; steps: Step[] }[];
  inventory?: StepPart[];
}

/** One page of the reading order: a step and the sequence it belongs to. */
interface Page {
  step: Step;
  /** Sub-assembly this step builds; null for the main model. */
  within: string | null;
  /** Steps in that sequence. */
  total: number;
}

/**
 * The order a builder reads: each sub-assembly's steps right before the main step that attaches
 * it (as in the PDF booklet), then that main step.
 */
export function readingOrder(instructions: Instructions): Page[] {
  const subs = new Map((instructions.submodels ?? []).map((s) => [s.name, s.steps]));
  const pages: Page[] = [];
  for (const step of instructions.steps) {
    const sub = step.submodel ? subs.get(step.submodel) : undefined;
    if (step.submodel && sub) {
      for (const inner of sub) pages.push({ step: inner, within: step.submodel, total: sub.length });
      subs.delete(step.submodel);
    }
    pages.push({ step, within: null, total: instructions.steps.length });
  }
  return pages;
}

/** Give an object URL for an artifact name (fetched with the API key), cached by the caller. */
export type ImageSource = (name: string) => Promise<string>;

export class StepViewer {
  private pages: Page[] = [];
  private index = 0;
  private images: ImageSource = () => Promise.reject(new Error("no job"));
  private shown = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly parts: {
      prev: HTMLButtonElement;
      next: HTMLButtonElement;
      label: HTMLElement;
      image: HTMLImageElement;
      context: HTMLElement;
      list: HTMLElement;
      total: HTMLElement;
      position: HTMLElement;
      inventory: HTMLElement;
      inventorySummary: HTMLElement;
    },
  ) {
    parts.prev.addEventListener("click", () => this.go(this.index - 1));
    parts.next.addEventListener("click", () => this.go(this.index + 1));
    root.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
      if (event.key === "ArrowLeft") this.go(this.index - 1);
      else if (event.key === "ArrowRight") this.go(this.index + 1);
      else if (event.key === "Home") this.go(0);
      else if (event.key === "End") this.go(this.pages.length - 1);
      else return;
      event.preventDefault();
    });
  }

  get count(): number {
    return this.pages.length;
  }

  load(instructions: Instructions, images: ImageSource): void {
    this.pages = readingOrder(instructions);
    this.images = images;
    const inventory = instructions.inventory ?? [];
    const pieces = inventory.reduce((sum, p) => sum + p.count, 0);
    this.parts.inventorySummary.textContent = `All ${pieces} pieces (${inventory.length} kinds)`;
    this.parts.inventory.replaceChildren(...inventory.map(partItem));
    (this.parts.inventory.parentElement as HTMLElement).hidden = inventory.length === 0;
    this.go(0);
  }

  go(index: number): void {
    if (this.pages.length === 0) return;
    this.index = Math.min(Math.max(index, 0), this.pages.length - 1);
    const { step, within, total: sequence } = this.pages[this.index];
    const { prev, next, label, image, context, list, total, position } = this.parts;
    prev.disabled = this.index === 0;
    next.disabled = this.index === this.pages.length - 1;
    label.textContent = within
      ? `Sub-assembly step ${step.number} of ${sequence}`
      : `Step ${step.number} of ${sequence}`;
    position.style.width = `${((this.index + 1) / this.pages.length) * 100}%`;
    this.root.dataset.page = String(this.index + 1);

    const notes: string[] = [];
    if (within) notes.push(`Build the sub-assembly “${within}” first`);
    else if (step.submodel) notes.push(`Attach the sub-assembly “${step.submodel}”`);
    const turned = step.turned ?? (step.rotation !== null && step.rotation.some((angle) => angle !== 0));
    if (turned) notes.push("Turn the model as shown");
    for (const note of step.notes ?? []) notes.push(note);
    context.textContent = notes.join(" · ");
    context.hidden = notes.length === 0;

    const pieces = step.parts.reduce((sum, p) => sum + p.count, 0);
    total.textContent = `${pieces} ${pieces === 1 ? "piece" : "pieces"}`;
    list.replaceChildren(...step.parts.map(partItem));

    image.alt = `Step ${step.number}: the model with this step's ${pieces} new ${pieces === 1 ? "piece" : "pieces"}`;
    const ticket = ++this.shown;
    image.removeAttribute("src");
    image.classList.add("loading");
    this.images(step.image)
      .then((url) => {
        if (ticket !== this.shown) return;
        image.src = url;
        image.classList.remove("loading");
      })
      .catch(() => {
        if (ticket === this.shown) image.classList.remove("loading");
      });
    const following = this.pages[this.index + 1];
    if (following) this.images(following.step.image).catch(() => undefined);
  }
}

function partItem(part: StepPart): HTMLElement {
  const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
  swatch.style.background = part.rgb;
  return el(
    "li",
    { class: "part", "data-part": part.part, "data-color": String(part.color) },
    el("span", { class: "count" }, `${part.count}×`),
    swatch,
    el(
      "span",
      { class: "part-text" },
      el("span", { class: "part-name" }, part.name),
      el("span", { class: "part-meta" }, `${part.color_name} · ${part.part}`),
    ),
  );
}
