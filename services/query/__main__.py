from services.query.app import SPEC
from shared.infra.service import main

main(SPEC)
