"""State in Azure Blob Storage, locked with a blob lease.

The lock blob (``<state>.lock``) is created if missing, then leased for an infinite duration with
the lock's own id as the proposed lease id; only then is the holder's LockInfo written into it,
under that lease. Another run's lease request fails while the lease is held, which is the lock.
Anyone who knows the lock id (printed in every LockError) can end it: unlock and force-unlock
delete the blob under that lease id. A lease outlives the process that took it, like every lock
here, until force-unlock.
"""

from __future__ import annotations

from ..errors import LockError, SourceError
from ..sources.azure import AzureObjectStore, LeaseHeldError
from ..sources.remote import ObjectChangedError
from . import LockInfo
from .remote import RemoteStateStore, _state_error


class LeasedStateStore(RemoteStateStore):
    store: AzureObjectStore

    def _acquire(self, info: LockInfo) -> None:
        try:
            self.store.put(self.lock_key, b"", absent=True)
        except ObjectChangedError:
            pass  # the blob exists: whether it is locked is the lease's business
        self.store.acquire_lease(self.lock_key, info.id)  # LeaseHeldError (an ObjectChangedError) if held
        self.store.put(self.lock_key, info.to_json(), lease=info.id)

    def force_unlock(self, lock_id: str) -> None:
        self._held(lock_id)
        try:
            self.store.delete(self.lock_key, lease=lock_id)
        except LeaseHeldError as exc:
            raise LockError(f"{self.location}: the lock is leased under another id than {lock_id}; "
                            "check it again") from exc
        except SourceError as exc:
            raise _state_error(exc) from exc
