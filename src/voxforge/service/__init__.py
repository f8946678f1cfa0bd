"""voxforge.service: the REST API (FastAPI), its job runner, storage and API keys.

``create_app(settings)`` builds the app; ``voxforge serve`` runs it with uvicorn. Importing this
package is cheap: FastAPI and SQLAlchemy are imported by the submodules that need them.
"""
