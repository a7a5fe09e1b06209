"""Alembic environment: migrates the database given in the config, or else DATABASE_URL."""

from alembic import context
from sqlalchemy import create_engine, pool

from common.config import Settings
from common.models import metadata

url = context.config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(url, poolclass=pool.NullPool).connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
