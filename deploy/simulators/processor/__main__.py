from deploy.simulators.processor.app import SPEC
from shared.infra.service import main

main(SPEC)
