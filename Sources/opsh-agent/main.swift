import AgentServer

await ServerMain.main()
