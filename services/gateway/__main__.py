from services.gateway.app import SPEC
from shared.infra.service import main

main(SPEC)
