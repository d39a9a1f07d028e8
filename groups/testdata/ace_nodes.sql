-- The node tables of ACE's schema (ace sql/01-ace.sql, with updates up to
-- 00019), as far as node discovery reads them: same names, column types
-- and keys, for testing ACENodes against the real layout.
CREATE TABLE company (
  id int(11) NOT NULL AUTO_INCREMENT,
  name varchar(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  PRIMARY KEY (name),
  KEY id (id)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE nodes (
  id int(11) NOT NULL AUTO_INCREMENT,
  name varchar(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  location varchar(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  company_id int(11) NOT NULL,
  last_update datetime NOT NULL,
  is_primary tinyint(4) NOT NULL DEFAULT '0',
  any_mode tinyint(4) NOT NULL DEFAULT '0',
  is_local tinyint(4) NOT NULL DEFAULT '0',
  PRIMARY KEY (id),
  UNIQUE KEY node_UNIQUE (name(767)),
  KEY fk_company_id_idx (company_id),
  CONSTRAINT fk_company_id FOREIGN KEY (company_id) REFERENCES company (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE node_modes (
  node_id int(11) NOT NULL,
  analysis_mode varchar(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  PRIMARY KEY (node_id, analysis_mode),
  CONSTRAINT fk_node_id FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE node_modes_excluded (
  node_id int(11) NOT NULL,
  analysis_mode varchar(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  PRIMARY KEY (node_id, analysis_mode),
  CONSTRAINT fk_nme_id FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE workload (
  id int(11) NOT NULL AUTO_INCREMENT,
  uuid varchar(36) CHARACTER SET ascii NOT NULL,
  node_id int(11) NOT NULL,
  analysis_mode varchar(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  insert_date datetime DEFAULT NULL,
  company_id int(11) NOT NULL,
  exclusive_uuid varchar(36) CHARACTER SET ascii DEFAULT NULL,
  storage_dir varchar(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uuid_UNIQUE (uuid, analysis_mode),
  KEY fk_company_id_idx (company_id),
  KEY idx_uuid (uuid),
  KEY idx_node (node_id),
  KEY idx_analysis_mode (analysis_mode),
  CONSTRAINT fk_workload_company_id FOREIGN KEY (company_id) REFERENCES company (id) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT fk_workload_node_id FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1;
