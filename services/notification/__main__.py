from services.notification.app import SPEC
from shared.infra.service import main

main(SPEC)
