from infra.aws.template import main

main()
