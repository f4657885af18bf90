"""What the features keep once per process, and the policies the configuration sets for
the callbacks and the polls, each made here at start-up beside the service
(receiver/app/build.py) and handed to what uses it: the workers and the console in their
constructors, the API's routes through their typed dependencies (receiver/wiring/dependencies.py
and each feature's API module)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from starlette.datastructures import State

from receiver.apps.portal import PortalLinks
from receiver.deliveries.fanout.worker import Fanout
from receiver.downstreams.directory import Directory, new_directory
from receiver.kernel.net.request_calls import RequestCalls
from receiver.kernel.secrets.sealing import Sealer
from receiver.kernel.secrets.tokens import MediaLinks
from receiver.keys.bearers import Keys
from receiver.keys.webhook_keys import TaskWebhookKeys
from receiver.lifecycle.rules.polling import PollLease
from receiver.media.storage.local import MediaStorage
from receiver.operator.probes import Probed
from receiver.shares.links import ShareSigner
from receiver.stream.changes import ChangeHub, stream_pools
from receiver.tasks.actions import Canceller
from receiver.tasks.submit import Intake
from receiver.wiring.service import Service
from receiver.wiring.worker_parts import WorkerParts


@dataclass(frozen=True)
class Parts:
    workers: WorkerParts  # the store, metrics, log, owner and wake-ups (`worker_parts`)
    keys: Keys  # the API keys, and who a bearer token is
    changes: ChangeHub  # the process's one reader of the change feed, for the live streams
    media_links: MediaLinks  # signs and reads the mirrored files' links
    media_storage: MediaStorage  # where the routes read the mirrored files and uploads
    share_signer: ShareSigner  # seals and opens share links
    directory: Directory  # every downstream, the config file's and those made through the API
    poll_lease: PollLease  # how this process leases its polls, and their budget
    intake: Intake  # what taking a task in uses
    canceller: Canceller  # what cancelling a task uses
    portal_links: PortalLinks  # makes and opens the apps' portal links
    # The bound on the calls to downstreams that requests wait on (validate, test events),
    # one for every door: the API, the console, the portals.
    request_calls: RequestCalls
    task_webhook_keys: TaskWebhookKeys  # each app's keys for its tasks' own webhooks

    def put_on(self, state: State) -> None:
        """Where the routes' dependencies find them, each by its field's name
        (receiver/wiring/dependencies.py's `on_app`)."""
        for each in fields(self):
            setattr(state, each.name, getattr(self, each.name))


def worker_parts(service: Service) -> WorkerParts:
    """What every worker and the callback's route stand on, out of the service."""
    return WorkerParts(service.store, service.metrics, service.log, service.owner, service.wakers)


def directory_of(service: Service, follows: bool = True) -> Directory:
    """Every downstream of the relay, its apps' names kept in the metrics' labels."""
    return new_directory(service.config, worker_parts(service), service.labels.app_names, follows)


def task_webhook_keys_of(service: Service) -> TaskWebhookKeys:
    """Each app's keys for its tasks' own webhooks, sealed as the downstreams' secrets are."""
    config = service.config
    sealer = Sealer(config.secrets.signing_keys)
    overlap = config.settings.delivery.rotation_overlap_seconds
    return TaskWebhookKeys(service.store, sealer, overlap)


def fanout_of(
    service: Service, directory: Directory, keys: TaskWebhookKeys | None = None
) -> Fanout:
    """The fan-out over `directory`, taking what this process's polls hand it; `keys`: the
    apps' task-webhook keys the process's routes rotate (None: its own)."""
    config = service.config
    delivery, secret = config.settings.delivery, config.secrets.task_webhook_secret
    parts, alerts = worker_parts(service), config.settings.alerts
    keys = keys or task_webhook_keys_of(service)
    return Fanout(parts, delivery, directory, service.deliveries, secret, alerts, keys)


def probed(service: Service) -> Probed:
    """What the probes and the store's gauges read, out of the service."""
    config = service.config
    return Probed(
        service.store,
        service.metrics,
        service.log,
        lambda: service.draining(),  # set once the server runs (receiver/app/server.py)
        service.workers,
        config.secrets.metrics_token,
        config.settings.server.metrics_count_seconds,
    )


def build_parts(service: Service) -> Parts:
    config = service.config
    settings, secrets = config.settings, config.secrets
    changes = ChangeHub(
        service.store,
        service.log,
        service.metrics,
        stream_pools(settings.server),
        lambda: service.draining(),
    )
    # The operator's own tasks' webhooks are signed with the relay-wide secret: off until the
    # variable naming it is set (an app's tasks' are signed with the app's own keys).
    webhooks_off = None
    if secrets.task_webhook_secret is None:
        webhooks_off = settings.delivery.task_webhook_secret_env
    # A key revoked or a session ended here: the live streams check their holders at once.
    service.on_access_change(changes.recheck)
    return Parts(
        workers=worker_parts(service),
        keys=Keys(service.store, secrets.signing_keys, secrets.admin_token),
        changes=changes,
        media_storage=MediaStorage(settings.media),
        media_links=MediaLinks(
            secrets.signing_keys, config.public_url, settings.media.url_ttl_seconds
        ),
        share_signer=ShareSigner(secrets.signing_keys, secrets.admin_token),
        directory=directory_of(service),
        poll_lease=settings.polling.lease(service.owner),
        intake=Intake(
            service.store,
            service.signer,
            service.log,
            service.wakers,
            webhooks_off,
            settings.delivery.allow_private_networks,
        ),
        canceller=Canceller(service.store, service.comet, service.wakers, service.log),
        portal_links=PortalLinks(service.store, secrets.signing_keys, config.public_url),
        request_calls=RequestCalls(
            settings.server.request_calls_per_app,
            settings.server.request_calls_per_key_per_second,
            settings.server.request_calls_cap,
        ),
        task_webhook_keys=task_webhook_keys_of(service),
    )
