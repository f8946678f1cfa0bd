/**
 * The 3D view of a result: a glTF binary on a soft ground grid, orbit/zoom/pan with the mouse,
 * touch or keyboard, drawn only when something changed (no render loop while idle).
 */

import {
  Box3,
  Color,
  DirectionalLight,
  GridHelper,
  HemisphereLight,
  type Material,
  Mesh,
  MeshStandardMaterial,
  type Object3D,
  PerspectiveCamera,
  PMREMGenerator,
  Scene,
  Sphere,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { type GLTF, GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { RoomEnvironment } from "three/addons/environments/RoomEnvironment.js";

export const BACKGROUND = 0xeef1f5;

/** The direction the camera looks from, relative to the model's centre (y up, as in glTF). */
const VIEW_DIRECTION = new Vector3(1.0, 0.75, 1.25).normalize();

/** True when this browser can make a WebGL context at all. */
export function webglAvailable(): boolean {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

/**
 * glTF files without a material get the spec's default (fully metallic), which looks black
 * without reflections; show them as matt ABS plastic instead, keeping their vertex colours.
 */
function plastic(source: Material & { vertexColors?: boolean; flatShading?: boolean }): MeshStandardMaterial {
  return new MeshStandardMaterial({
    color: 0xffffff,
    vertexColors: source.vertexColors ?? false,
    flatShading: source.flatShading ?? false,
    roughness: 0.42,
    metalness: 0.0,
  });
}

function disposeTree(root: Object3D): void {
  root.traverse((node) => {
    if (node instanceof Mesh) {
      node.geometry.dispose();
      const materials = Array.isArray(node.material) ? node.material : [node.material];
      for (const material of materials) material.dispose();
    }
  });
}

export class ModelViewer {
  readonly canvas: HTMLCanvasElement;
  private readonly renderer: WebGLRenderer;
  private readonly scene = new Scene();
  private readonly camera = new PerspectiveCamera(35, 1, 0.001, 100);
  private readonly controls: OrbitControls;
  private readonly loader = new GLTFLoader();
  private model: Object3D | null = null;
  private grid: GridHelper | null = null;
  private home: { position: Vector3; target: Vector3 } | null = null;
  private frame = 0;
  private readonly resizeObserver: ResizeObserver;

  constructor(private readonly container: HTMLElement) {
    this.renderer = new WebGLRenderer({ antialias: true, powerPreference: "high-performance" });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.canvas = this.renderer.domElement;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "3D view of the model");
    this.canvas.tabIndex = 0;
    container.append(this.canvas);

    this.scene.background = new Color(BACKGROUND);
    const pmrem = new PMREMGenerator(this.renderer);
    this.scene.environment = pmrem.fromScene(new RoomEnvironment(), 0.04).texture;
    pmrem.dispose();
    this.scene.environmentIntensity = 0.55;
    this.scene.add(new HemisphereLight(0xffffff, 0x8a8f99, 1.3));
    const key = new DirectionalLight(0xffffff, 1.6);
    key.position.set(3, 5, 4);
    this.scene.add(key);

    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.enableDamping = true;
    this.controls.dampingFactor = 0.12;
    this.controls.listenToKeyEvents(this.canvas);
    this.controls.addEventListener("change", () => this.requestRender());

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
  }

  /**
   * Show a GLB (bytes); replaces the model shown before. Resolves once the first frame is drawn.
   * With `keepView` the camera stays where it is (another level of detail of the same model).
   */
  async show(bytes: ArrayBuffer, keepView = false): Promise<void> {
    const gltf = await new Promise<GLTF>((resolve, reject) => this.loader.parse(bytes, "", resolve, reject));
    this.clear();
    const root = gltf.scene;
    root.traverse((node) => {
      if (node instanceof Mesh && !Array.isArray(node.material) && node.material.name === "__DEFAULT") {
        const old = node.material;
        node.material = plastic(old);
        old.dispose();
      }
    });
    this.scene.add(root);
    this.model = root;
    const view = keepView && this.home ? { position: this.camera.position.clone(), target: this.controls.target.clone() } : null;
    this.frameModel(root);
    this.resetView();
    if (view) {
      this.camera.position.copy(view.position);
      this.controls.target.copy(view.target);
      this.controls.update();
      this.requestRender();
    }
    await new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
  }

  /** Remove the model (and free its GPU buffers). */
  clear(): void {
    if (this.model) {
      this.scene.remove(this.model);
      disposeTree(this.model);
      this.model = null;
    }
    if (this.grid) {
      this.scene.remove(this.grid);
      this.grid.geometry.dispose();
      (this.grid.material as Material).dispose();
      this.grid = null;
    }
    this.requestRender();
  }

  /** Back to the view the model opened with. */
  resetView(): void {
    if (!this.home) return;
    this.camera.position.copy(this.home.position);
    this.controls.target.copy(this.home.target);
    this.controls.update();
    this.requestRender();
  }

  dispose(): void {
    this.clear();
    this.resizeObserver.disconnect();
    this.controls.dispose();
    this.renderer.dispose();
    this.canvas.remove();
  }

  /** Put a grid under the model and choose a camera distance that shows all of it. */
  private frameModel(root: Object3D): void {
    const box = new Box3().setFromObject(root);
    if (box.isEmpty()) return;
    const sphere = box.getBoundingSphere(new Sphere());
    const radius = Math.max(sphere.radius, 1e-4);
    const size = box.getSize(new Vector3());

    const cells = 16;
    const span = Math.max(size.x, size.z) * 2.2;
    this.grid = new GridHelper(span, cells, 0xb9c0cc, 0xd5dae2);
    this.grid.position.set(sphere.center.x, box.min.y - radius * 0.002, sphere.center.z);
    this.scene.add(this.grid);

    // Fit the bounding sphere in the narrower of the two fields of view (phones are tall).
    const vertical = (this.camera.fov * Math.PI) / 180;
    const horizontal = 2 * Math.atan(Math.tan(vertical / 2) * this.camera.aspect);
    const distance = (radius / Math.sin(Math.min(vertical, horizontal) / 2)) * 1.08;
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.updateProjectionMatrix();
    this.controls.minDistance = radius * 0.3;
    this.controls.maxDistance = distance * 6;
    this.home = {
      position: sphere.center.clone().addScaledVector(VIEW_DIRECTION, distance),
      target: sphere.center.clone(),
    };
  }

  private resize(): void {
    const { clientWidth: width, clientHeight: height } = this.container;
    if (width === 0 || height === 0) return;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  private requestRender(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      // While damping settles, update() keeps reporting changes, which ask for the next frame.
      this.controls.update();
      this.renderer.render(this.scene, this.camera);
    });
  }
}
