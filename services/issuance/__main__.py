from services.issuance.app import SPEC
from shared.infra.service import main

main(SPEC)
