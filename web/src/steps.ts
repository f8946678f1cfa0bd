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
  parts: StepPart[];
}

export interface Instructions {
  title?: string;
  steps: Step[];
  submodels?: unknown[];
  inventory?: unknown[];
}

/** Give an object URL for an artifact name (fetched with the API key), cached by the caller. */
export type ImageSource = (name: string) => Promise<string>;

export class StepViewer {
  private steps: Step[] = [];
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
    },
  ) {
    parts.prev.addEventListener("click", () => this.go(this.index - 1));
    parts.next.addEventListener("click", () => this.go(this.index + 1));
    root.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
      if (event.key === "ArrowLeft") this.go(this.index - 1);
      else if (event.key === "ArrowRight") this.go(this.index + 1);
      else if (event.key === "Home") this.go(0);
      else if (event.key === "End") this.go(this.steps.length - 1);
      else return;
      event.preventDefault();
    });
  }

  get count(): number {
    return this.steps.length;
  }

  load(instructions: Instructions, images: ImageSource): void {
    this.steps = [...instructions.steps].sort((a, b) => a.number - b.number);
    this.images = images;
    this.go(0);
  }

  go(index: number): void {
    if (this.steps.length === 0) return;
    this.index = Math.min(Math.max(index, 0), this.steps.length - 1);
    const step = this.steps[this.index];
    const { prev, next, label, image, context, list, total } = this.parts;
    prev.disabled = this.index === 0;
    next.disabled = this.index === this.steps.length - 1;
    label.textContent = `Step ${step.number} of ${this.steps.length}`;
    this.root.dataset.step = String(step.number);

    const notes: string[] = [];
    if (step.submodel) notes.push(`Sub-assembly “${step.submodel}”`);
    if (step.rotation && step.rotation.some((angle) => angle !== 0)) notes.push("Turn the model as shown");
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
    const following = this.steps[this.index + 1];
    if (following) this.images(following.image).catch(() => undefined);
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
