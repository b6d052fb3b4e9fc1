import Agent

AgentMain.main()
