// PM2, as the seed runs its workers (optional: systemd or supervisor need no Node.js).
//   pm2 start deploy/workers/ecosystem.config.cjs      (from the project's root)
//   pm2 logs job-manager-worker | pm2 monit | pm2 restart job-manager-worker
// Environment: export the variables of worker.env.example first (PM2 passes its own on).
module.exports = {
  apps: [{
    name: 'job-manager-worker',
    script: 'manage.py',
    args: 'run_worker --max-memory 1024',
    interpreter: '.venv/bin/python',
    instances: 3,
    exec_mode: 'fork',              // cluster mode is for Node.js programs
    max_memory_restart: '1G',       // the hard stop; run_worker's --max-memory stops gently first
    max_restarts: 10,
    min_uptime: '10s',
    restart_delay: 5000,
    kill_timeout: 900000,           // SIGTERM lets running tasks finish (up to the 15 min visibility timeout)
    cron_restart: '0 2 * * *',      // daily at 2 AM
    error_file: '.output/logs/err.log',
    out_file: '.output/logs/out.log',
    merge_logs: true,
  }],
};
