package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"edgenas/fleet/broker"
)

func brokerCommand() *command {
	var listen, usersFile, hostUser, hostPass, agentPass, store string
	return &command{
		name:    "broker",
		summary: "run the embedded MQTT broker (password auth; each agent may publish only on its own topics)",
		usage:   "--listen HOST:PORT [--users FILE] [--host-user NAME] [--store FILE] (passwords from EDGENAS_HOST_PASSWORD, EDGENAS_AGENT_PASSWORD)",
		example: "EDGENAS_HOST_PASSWORD=h EDGENAS_AGENT_PASSWORD=a edgenas broker --listen 0.0.0.0:1883 --store ~/.edgenas/broker.db",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&listen, "listen", "127.0.0.1:1883", "TCP address to listen on")
			fs.StringVar(&usersFile, "users", "", "accounts file: one 'ROLE NAME PASSWORD' per line (ROLE host or agent)")
			fs.StringVar(&hostUser, "host-user", "host", "host account name (password from $EDGENAS_HOST_PASSWORD)")
			fs.StringVar(&hostPass, "host-password", os.Getenv("EDGENAS_HOST_PASSWORD"), "host password (default $EDGENAS_HOST_PASSWORD)")
			fs.StringVar(&store, "store", "", "file keeping retained messages and sessions across restarts (default: memory only)")
			fs.StringVar(&agentPass, "agent-password", os.Getenv("EDGENAS_AGENT_PASSWORD"), "shared password admitting any agent id (default $EDGENAS_AGENT_PASSWORD)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("broker takes no arguments")
			}
			var users []broker.User
			if usersFile != "" {
				u, err := broker.LoadUsers(usersFile)
				if err != nil {
					return err
				}
				users = u
			}
			if hostPass != "" {
				users = append(users, broker.User{Name: hostUser, Password: hostPass, Role: broker.RoleHost})
			}
			if len(users) == 0 && agentPass == "" {
				return usagef("no accounts: set EDGENAS_HOST_PASSWORD/EDGENAS_AGENT_PASSWORD or give --users")
			}
			log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			b, err := broker.Start(broker.Config{Addr: listen, Users: users, AgentPassword: agentPass, Logger: log, Store: store})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "broker listening on %s (%d accounts, shared agent password: %v)\n", b.URL(), len(users), agentPass != "")
			<-ctx.Done()
			fmt.Fprintln(e.stdout, "broker stopping")
			return b.Close()
		},
	}
}
